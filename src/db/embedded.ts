/**
 * The embedded PostgreSQL used when there is no `DATABASE_URL`: PGlite served on a loopback port by
 * pglite-socket's server, in a worker thread (see `embedded-worker.ts`). The service connects to it
 * with `pg` like to any server, so pg, its instrumentation and every code path stay the same.
 *
 * It is not a full server; the README lists the differences (one backend shared by all
 * connections, statements run one at a time, no cancel, in memory by default, ...).
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { getLogger } from '../logger.ts';
import type { EmbeddedWorkerData } from './embedded-worker.ts';
import { EmbeddedPostgresError } from './errors.ts';
import { resolveEmbeddedOptions } from './pool.ts';
import type { EmbeddedPostgresOptions } from './types.ts';

/** A running embedded PostgreSQL. */
export interface EmbeddedPostgres {
  /** `postgresql://postgres@127.0.0.1:<port>/postgres` (no password: PGlite does not check one). */
  readonly url: string;
  /** The loopback port it listens on. */
  readonly port: number;
  /** `server_version` of the embedded PostgreSQL. */
  readonly serverVersion: string;
  /** Closes the socket server and PGlite, then ends the worker thread. Idempotent. */
  stop(): Promise<void>;
}

type WorkerMessage =
  | { readonly type: 'ready'; readonly port: number; readonly version: string }
  | { readonly type: 'error'; readonly message: string }
  | { readonly type: 'stopped' };

/** Longest a graceful stop may take before the worker is terminated, ms. */
const STOP_TIMEOUT_MS = 5000;

/**
 * The worker's file next to this one, with this file's extension: `.ts` when run from source
 * (Node strips the types), `.js` from the built package.
 */
function workerUrl(): URL {
  const extension = extname(fileURLToPath(import.meta.url)) || '.js';
  return new URL(`./embedded-worker${extension}`, import.meta.url);
}

/**
 * Starts an embedded PostgreSQL (PGlite) on a loopback port, in a worker thread. The sidecar and
 * `createDatabase()` call it when `DATABASE_URL` is unset; `stop()` ends it.
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
  const settings = resolveEmbeddedOptions(options, 100);
  const workerData: EmbeddedWorkerData = {
    dataDir: settings.dataDir,
    port: settings.port,
    maxConnections: settings.maxConnections,
  };
  // execArgv: [] keeps `--import perf-sidecar/register` (and any other preload) out of the worker:
  // a second telemetry SDK there would double every export.
  const worker = new Worker(workerUrl(), { workerData, execArgv: [] });
  const started = performance.now();
  let ready: Extract<WorkerMessage, { type: 'ready' }>;
  try {
    ready = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new EmbeddedPostgresError(`it did not start within ${settings.startTimeoutMs} ms`)),
        settings.startTimeoutMs,
      );
      const settle = () => {
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      const onMessage = (message: WorkerMessage) => {
        if (message.type === 'ready') {
          settle();
          resolve(message);
        } else if (message.type === 'error') {
          settle();
          reject(new EmbeddedPostgresError(message.message));
        }
      };
      const onError = (error: Error) => {
        settle();
        reject(new EmbeddedPostgresError(error.message, { cause: error }));
      };
      const onExit = (code: number) => {
        settle();
        reject(new EmbeddedPostgresError(`its worker thread exited with code ${code}`));
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  const log = getLogger();
  worker.on('error', (error: Error) => log.error({ err: error.message }, 'embedded PostgreSQL failed'));
  log.info(
    { port: ready.port, version: ready.version, startMs: Math.round(performance.now() - started) },
    `embedded PostgreSQL (PGlite, ${settings.dataDir === undefined ? 'in memory' : 'on disk'}) listening on 127.0.0.1:${ready.port}`,
  );

  let stopping: Promise<void> | undefined;
  return {
    url: `postgresql://postgres@127.0.0.1:${ready.port}/postgres`,
    port: ready.port,
    serverVersion: ready.version,
    stop() {
      stopping ??= stopWorker(worker);
      return stopping;
    },
  };
}

async function stopWorker(worker: Worker): Promise<void> {
  const stopped = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, STOP_TIMEOUT_MS);
    timer.unref();
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'stopped') {
        clearTimeout(timer);
        resolve();
      }
    });
    worker.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  worker.postMessage({ type: 'stop' });
  await stopped;
  await worker.terminate();
}
