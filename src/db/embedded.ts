/**
 * The embedded PostgreSQL used when there is no `DATABASE_URL`: PGlite served on a loopback port by
 * pglite-socket's server, in a child process of its own (see `embedded-worker.ts`), so that its
 * memory, CPU and event loop are not the host's. The service connects to it with `pg` like to any
 * server, so pg, its instrumentation and every code path stay the same.
 *
 * It is not a full server; the README lists the differences (one backend shared by all
 * connections, statements run one at a time, no cancel, in memory by default, ...).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { createServer } from 'node:net';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getLogger } from '../shared/logger.ts';
// Only the type: importing the module itself would run the worker in the host.
import { assertPeerInstalled } from '../shared/peers.ts';
import type { EmbeddedWorkerData } from './embedded-worker.ts';
import { EmbeddedPostgresError } from './errors.ts';
import { type EmbeddedPostgresOptions, type EmbeddedSettings, resolveEmbeddedSettings } from './options.ts';
import type { EmbeddedServerStatus } from './types.ts';

/** A running embedded PostgreSQL. */
export interface EmbeddedPostgres {
  /** `postgresql://postgres@127.0.0.1:<port>/postgres` (no password: PGlite does not check one). */
  readonly url: string;
  /** The loopback port it listens on. */
  readonly port: number;
  /** Process id of the child process running PGlite (never the host's). */
  readonly pid: number;
  /** `server_version` of the embedded PostgreSQL. */
  readonly serverVersion: string;
  /** Closes the socket server and PGlite, then ends the child process. Idempotent. */
  stop(): Promise<void>;
}

/** An embedded PostgreSQL whose start-up may still be running (what the service uses). */
export interface EmbeddedLaunch {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** Resolves with the server version once it accepts connections; rejects when it cannot start. */
  readonly ready: Promise<string>;
  /** State, pid and (when running) the child's resident memory. Never rejects. */
  status(): Promise<EmbeddedServerStatus>;
  stop(): Promise<void>;
}

type ChildMessage =
  | { readonly type: 'ready'; readonly port: number; readonly version: string }
  | { readonly type: 'error'; readonly message: string }
  | { readonly type: 'stats'; readonly rssBytes: number; readonly connections: number }
  | { readonly type: 'stopped' };

/** Longest a graceful stop may take before the child is killed, ms. */
const STOP_TIMEOUT_MS = 5000;
/** Connection limit of a server started by {@link startEmbeddedPostgres} without `maxConnections`. */
const STANDALONE_MAX_CONNECTIONS = 100;
/** Longest the child may take to answer a stats request, ms. */
const STATS_TIMEOUT_MS = 1000;

/**
 * The worker's file next to this one, with this file's extension: `.ts` when run from source
 * (Node strips the types), `.js` from the built package.
 */
function workerPath(): string {
  const extension = extname(fileURLToPath(import.meta.url)) || '.js';
  return fileURLToPath(new URL(`./embedded-worker${extension}`, import.meta.url));
}

/** A free loopback port (bound and released), so that the URL is known before the child listens. */
function reservePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Starts the child process and returns at once, with the URL it will serve; `ready` settles when
 * PGlite is up (bounded by `startTimeoutMs`). Internal: the service uses it so that start-up does
 * not hold up the host.
 */
export async function launchEmbeddedPostgres(settings: EmbeddedSettings): Promise<EmbeddedLaunch> {
  // The child imports PGlite; a missing package is reported here, naming it, not as a dead child.
  assertPeerInstalled('@electric-sql/pglite');
  assertPeerInstalled('@electric-sql/pglite-socket');
  const port = settings.port === 0 ? await reservePort() : settings.port;
  const data: EmbeddedWorkerData = {
    dataDir: settings.dataDir,
    port,
    maxConnections: settings.maxConnections,
  };
  // execArgv: [] keeps `--import perf-sidecar/register` (and any other preload) out of the child:
  // a second telemetry SDK there would report PGlite's process as the host.
  const child: ChildProcess = fork(workerPath(), [JSON.stringify(data)], {
    execArgv: [],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    serialization: 'json',
  });
  const pid = child.pid ?? -1;
  const log = getLogger();
  const started = performance.now();
  let state: EmbeddedServerStatus['state'] = 'starting';
  let failure: string | undefined;
  child.on('error', (error) => {
    failure ??= error.message;
  });
  const ready = new Promise<string>((resolve, reject) => {
    const fail = (reason: string) => {
      clearTimeout(timer);
      state = 'failed';
      failure = reason;
      child.kill('SIGKILL');
      reject(new EmbeddedPostgresError(reason));
    };
    const timer = setTimeout(
      () => fail(`it did not start within ${settings.startTimeoutMs} ms`),
      settings.startTimeoutMs,
    );
    child.on('message', (message: ChildMessage) => {
      if (state !== 'starting') return;
      if (message.type === 'ready') {
        clearTimeout(timer);
        state = 'running';
        // From now on the pool's connections keep the host alive, not the child.
        child.unref();
        child.channel?.unref();
        log.info(
          {
            port,
            embeddedPid: pid,
            version: message.version,
            startMs: Math.round(performance.now() - started),
          },
          `embedded PostgreSQL (PGlite, ${settings.dataDir === undefined ? 'in memory' : 'on disk'}) listening on 127.0.0.1:${port} in process ${pid}`,
        );
        resolve(message.version);
      } else if (message.type === 'error') {
        fail(message.message);
      }
    });
    child.once('exit', (code, signal) => {
      if (state === 'starting') fail(`its process exited with ${signal ?? `code ${code}`}`);
      else if (state === 'running') {
        state = 'exited';
        failure = `its process ${pid} exited with ${signal ?? `code ${code}`}`;
        log.error({ embeddedPid: pid, code, signal }, 'embedded PostgreSQL process exited');
      }
    });
  });
  // Callers await `ready` when they need it; a failed start must not be an unhandled rejection.
  ready.catch(() => undefined);

  let stopping: Promise<void> | undefined;
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    port,
    pid,
    ready,
    status: () => statusOf(child, pid, state, failure),
    stop() {
      stopping ??= (async () => {
        state = state === 'starting' ? 'failed' : state === 'running' ? 'stopped' : state;
        await stopChild(child);
      })();
      return stopping;
    },
  };
}

async function statusOf(
  child: ChildProcess,
  pid: number,
  state: EmbeddedServerStatus['state'],
  error: string | undefined,
): Promise<EmbeddedServerStatus> {
  const base = { state, pid, ...(error === undefined ? {} : { error }) };
  if (state !== 'running' || !child.connected) return base;
  const stats = await new Promise<Extract<ChildMessage, { type: 'stats' }> | undefined>((resolve) => {
    const timer = setTimeout(() => done(undefined), STATS_TIMEOUT_MS);
    timer.unref();
    const onMessage = (message: ChildMessage) => {
      if (message.type === 'stats') done(message);
    };
    const done = (value: Extract<ChildMessage, { type: 'stats' }> | undefined) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(value);
    };
    child.on('message', onMessage);
    child.send({ type: 'stats' });
  });
  return stats === undefined ? base : { ...base, rssBytes: stats.rssBytes, connections: stats.connections };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  // Unreferenced once running; while it stops, the host must stay up to see it go.
  child.ref();
  child.channel?.ref();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  timer.unref();
  if (child.connected) child.send({ type: 'stop' });
  else child.kill('SIGKILL');
  await exited;
  clearTimeout(timer);
}

/**
 * Starts an embedded PostgreSQL (PGlite) on a loopback port, in a child process of its own, and
 * waits until it accepts connections. The child exits when the host does. `stop()` ends it.
 *
 * @param options data directory (default: in memory), connection limit, port, start-up timeout.
 * @throws {InvalidArgumentError} for a bad option.
 * @throws {EmbeddedPostgresError} when PGlite does not start within the timeout.
 * @example
 * const pg = await startEmbeddedPostgres();
 * const db = await createDatabase({ url: pg.url });
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions = {},
): Promise<EmbeddedPostgres> {
  const launch = await launchEmbeddedPostgres(resolveEmbeddedSettings(options, STANDALONE_MAX_CONNECTIONS));
  let serverVersion: string;
  try {
    serverVersion = await launch.ready;
  } catch (error) {
    await launch.stop();
    throw error;
  }
  return { url: launch.url, port: launch.port, pid: launch.pid, serverVersion, stop: launch.stop };
}
