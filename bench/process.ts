/**
 * Child processes of the benchmarks (servers under test, load clients).
 */
import { type ChildProcess, spawn } from 'node:child_process';
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
