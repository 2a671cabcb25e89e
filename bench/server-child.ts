/**
 * Server children of the HTTP and summary benchmarks: bench/http-child.ts forked with its own
 * environment, waited for until it listens, killed on the way out whatever happens, and a
 * keep-alive GET that times itself.
 */
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { ChildMessage } from './http-child.ts';
import { ChildProcesses } from './process.ts';

const CHILD = fileURLToPath(new URL('./http-child.ts', import.meta.url));

/** Every process started here, killed on the way out whatever happens (see {@link withChildren}). */
export const processes = new ChildProcesses();

/** Variables a server child never inherits: each variant sets its own. */
const INHERITED_NOT =
  /^(REDIS_URL|DATABASE_URL|PERF_API_TOKEN|ALERT_KEY_PREFIX|PERF_HTTP_SERVER_SPANS|OTEL_.*|NODE_OPTIONS)$/;

/** Environment of a server child: nothing that would leave memory-only mode or export anything. */
export function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (INHERITED_NOT.test(name)) delete env[name];
  return { ...env, LOG_LEVEL: 'info', ...extra };
}

export interface Server {
  readonly child: ChildProcess;
  readonly port: number;
  readonly httpInstrumented: boolean;
}

/** Forks a server child (stdout to /dev/null, stderr shown) and waits until it listens. */
export function startServer(execArgv: string[], env: Record<string, string>): Promise<Server> {
  const child = fork(CHILD, [], {
    execArgv,
    env: childEnv(env),
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  processes.add(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server child did not start within 30 s')), 30_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`server child exited before listening (code ${code}, signal ${signal})`));
    });
    child.once('message', (message: ChildMessage) => {
      clearTimeout(timer);
      if (message.type === 'listening') {
        resolve({ child, port: message.port, httpInstrumented: message.httpInstrumented });
      } else reject(new Error(`server child failed: ${message.type === 'failed' ? message.error : ''}`));
    });
  });
}

/** Whether something still accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** After the servers stopped: a port still accepting connections fails the run (exit code 1). */
export async function reportListening(ports: readonly number[]): Promise<void> {
  for (const port of ports) {
    if (await listening(port)) {
      console.error(`a benchmark server is still listening on 127.0.0.1:${port} after stop`);
      process.exitCode = 1;
    }
  }
}

/** One GET on a keep-alive agent: status, body and client-side latency in ms. */
export function get(
  agent: http.Agent,
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; ms: number; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.get({ host: '127.0.0.1', port, path, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString(),
          ms: performance.now() - started,
          headers: res.headers,
        }),
      );
      res.once('error', reject);
    });
    req.once('error', reject);
  });
}

/** Runs `body`; every child started meanwhile is killed when it returns or throws, or on a signal. */
export function withChildren<T>(body: () => Promise<T>): Promise<T> {
  return processes.guard(body);
}
