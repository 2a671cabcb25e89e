/**
 * Child processes of the benchmarks (servers under test, load clients).
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** SIGTERM, then SIGKILL after 6 s; resolves once the child has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 6000);
  await exited;
  clearTimeout(timer);
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
