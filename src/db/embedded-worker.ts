/**
 * The embedded PostgreSQL's thread: PGlite (PostgreSQL compiled to WebAssembly) served on a loopback
 * port by pglite-socket's server. It runs in a worker thread because PGlite executes statements
 * synchronously: in the main thread a slow statement would block the service's event loop.
 *
 * Messages: the parent receives `{ type: 'ready', port, version }` or `{ type: 'error', message }`;
 * it sends `{ type: 'stop' }` and receives `{ type: 'stopped' }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** What the parent hands over. */
export interface EmbeddedWorkerData {
  readonly dataDir: string | undefined;
  readonly port: number;
  readonly maxConnections: number;
}

const data = workerData as EmbeddedWorkerData;
const port = parentPort;

async function start(): Promise<void> {
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
  port?.on('message', (message: { type?: string }) => {
    if (message.type !== 'stop') return;
    void (async () => {
      await server.stop();
      await db.close();
      port.postMessage({ type: 'stopped' });
    })();
  });
  port?.postMessage({
    type: 'ready',
    port: Number(address.slice(address.lastIndexOf(':') + 1)),
    version: version.rows[0]?.server_version ?? 'unknown',
  });
}

start().catch((error: unknown) => {
  port?.postMessage({ type: 'error', message: error instanceof Error ? error.message : String(error) });
});
