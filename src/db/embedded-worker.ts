/**
 * The embedded PostgreSQL's process: PGlite (PostgreSQL compiled to WebAssembly) served on a
 * loopback port by pglite-socket's server. It runs in a child process of its own, not in the host:
 * PGlite takes hundreds of MiB and executes statements synchronously, and in the host that memory,
 * CPU and event-loop time would count as the host's (and raise its own resource alerts).
 *
 * Started by `embedded.ts` with `fork()`, its settings as JSON in the first argument. IPC
 * messages: the parent receives `{ type: 'ready', port, version }` or `{ type: 'error', message }`;
 * it sends `{ type: 'stats' }` (answered by `{ type: 'stats', rssBytes, connections }`) and
 * `{ type: 'stop' }` (answered by `{ type: 'stopped' }`, then the process exits). When the IPC
 * channel closes (the host ended, even by SIGKILL) the process exits at once: no orphans.
 */
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** What the parent hands over. */
export interface EmbeddedWorkerData {
  readonly dataDir: string | undefined;
  readonly port: number;
  readonly maxConnections: number;
}

function send(message: object): void {
  if (process.connected) process.send?.(message);
}

// The host is gone (exited, crashed or killed): nothing may outlive it.
process.on('disconnect', () => process.exit());

async function start(): Promise<void> {
  const data = JSON.parse(process.argv[2] ?? '{}') as EmbeddedWorkerData;
  const db = await PGlite.create(data.dataDir === undefined ? {} : { dataDir: data.dataDir });
  const server = new PGLiteSocketServer({
    db,
    host: '127.0.0.1',
    port: data.port,
    maxConnections: data.maxConnections,
  });
  await server.start();
  const address = server.getServerConn();
  const version = await db.query<{ server_version: string }>('SHOW server_version');
  let stopping = false;
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'stats') {
      send({
        type: 'stats',
        rssBytes: process.memoryUsage().rss,
        connections: server.getStats().activeConnections,
      });
    } else if (message.type === 'stop' && !stopping) {
      stopping = true;
      void (async () => {
        await server.stop();
        await db.close();
        send({ type: 'stopped' });
        process.exit(0);
      })();
    }
  });
  send({
    type: 'ready',
    port: Number(address.slice(address.lastIndexOf(':') + 1)),
    version: version.rows[0]?.server_version ?? 'unknown',
  });
}

start().catch((error: unknown) => {
  send({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  process.exitCode = 1;
  process.disconnect?.();
});
