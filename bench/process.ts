/**
 * Child processes of the benchmarks (servers under test, load clients).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** SIGTERM, then SIGKILL after 6 s; resolves once the child has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 6000);
  await exited;
  clearTimeout(timer);
}

/**
 * A child that speaks in lines on stdin/stdout: it prints `ready` once set up, then answers each
 * command it is sent with one JSON line. Every wait is bounded and rejects as soon as the child
 * exits, so a crashed child fails the benchmark instead of hanging it.
 */
export interface LineChild {
  /** The process (for {@link stopChild}). */
  readonly process: ChildProcess;
  /** Resolves once the child printed `ready`; rejects if it exits first or after `timeoutMs`. */
  ready(timeoutMs: number): Promise<void>;
  /** Sends `command` and resolves with the next JSON line parsed; rejects as {@link ready} does. */
  request(command: string, timeoutMs: number): Promise<unknown>;
}

/** Starts `node <script>` with only `env` (and PATH) as its environment; stderr goes to ours. */
export function spawnLineChild(script: string, env: Record<string, string>): LineChild {
  const child = spawn(process.execPath, [script], {
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let isReady = false;
  let exited: string | undefined;
  const answers: unknown[] = [];
  // Whoever waits (ready or one request at a time) is woken on every line and on exit.
  let wake: (() => void) | undefined;
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    if (line === 'ready') isReady = true;
    else if (line.startsWith('{')) answers.push(JSON.parse(line));
    wake?.();
  });
  // 'close', not 'exit': it comes after stdout has ended, so a last answer is never lost to it.
  child.once('close', (code, signal) => {
    exited = `${script} exited (${signal ?? code})`;
    wake?.();
  });
  const until = <T>(take: () => T | undefined, timeoutMs: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        wake = undefined;
        reject(new Error(`${script} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        const value = take();
        if (value === undefined && exited === undefined) return;
        clearTimeout(timer);
        wake = undefined;
        if (value !== undefined) resolve(value);
        else reject(new Error(exited));
      };
      wake = check;
      check();
    });
  return {
    process: child,
    ready: (timeoutMs) => until(() => (isReady ? true : undefined), timeoutMs).then(() => undefined),
    request(command, timeoutMs) {
      child.stdin?.write(`${command}\n`);
      return until(() => answers.shift(), timeoutMs);
    },
  };
}

/** Every process a benchmark started, killed on the way out whatever happens (see {@link guard}). */
export class ChildProcesses {
  readonly #children = new Set<ChildProcess>();

  /** Tracks `child` until it exits; returns it. */
  add<C extends ChildProcess>(child: C): C {
    this.#children.add(child);
    child.once('exit', () => this.#children.delete(child));
    return child;
  }

  /** SIGKILL to every tracked child still running. */
  killAll(): void {
    for (const p of this.#children) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }

  /**
   * Runs `body`; every tracked child is killed when it returns or throws, and also when the
   * benchmark exits or is interrupted (SIGINT, SIGTERM) meanwhile, so that none outlives it.
   */
  async guard<T>(body: () => Promise<T>): Promise<T> {
    const onExit = () => this.killAll();
    const onSignal = (signal: NodeJS.Signals) => {
      this.killAll();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on('exit', onExit);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    try {
      return await body();
    } finally {
      this.killAll();
      process.off('exit', onExit);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }
}

/**
 * Variables a sidecar child never inherits: whether it uses Redis, which ports, rules, forwarding
 * and exports it has is the benchmark's choice alone.
 */
const DROPPED_ENV =
  /^(REDIS_URL|DATABASE_URL|PERF_.*|ALERT_.*|OTLP_.*|OTEL_.*|NODE_OPTIONS|PORT|HOST|LOG_LEVEL)$/;

/**
 * Environment of a sidecar child: the parent's without the variables that choose what the sidecar
 * does, on loopback with free ports (the API and both OTLP receivers), LOG_LEVEL info, and `extra`.
 */
export function sidecarEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (DROPPED_ENV.test(name)) delete env[name];
  return {
    ...env,
    HOST: '127.0.0.1',
    PORT: '0',
    OTLP_HTTP_PORT: '0',
    OTLP_GRPC_PORT: '0',
    LOG_LEVEL: 'info',
    ...extra,
  };
}

/** Resident set size of process `pid` now (`VmRSS` of /proc/<pid>/status), in bytes. */
export function residentBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kib === undefined) throw new Error(`no VmRSS in /proc/${pid}/status (has the process exited?)`);
  return Number(kib) * 1024;
}
