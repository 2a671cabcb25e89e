/**
 * The demo workload as a child process, started as `npm run demo` starts it:
 * `node --import ./demo/register.ts ./demo/run.ts [args]`; optionally on a real terminal (a
 * pseudo-terminal made by util-linux `script`), where keys typed (Ctrl-C) reach it as from a user.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { ROOT } from './child.ts';
import { stopProcess } from './redis-server.ts';
import { waitFor } from './wait.ts';

/** A running demo. */
export class DemoProcess {
  readonly #child: ChildProcess;
  #output = '';
  readonly exited: Promise<number | null>;

  private constructor(child: ChildProcess) {
    this.#child = child;
    const collect = (chunk: string) => {
      // Bounded: the demo prints a few dozen lines; the cap guards against a runaway loop.
      if (this.#output.length < 1_000_000) this.#output += chunk;
    };
    child.stdout?.setEncoding('utf8').on('data', collect);
    child.stderr?.setEncoding('utf8').on('data', collect);
    this.exited = new Promise((done) => child.once('exit', (code) => done(code)));
  }

  /** Starts the demo with only `env` (plus PATH and HOME) as its environment. */
  static start(args: readonly string[], env: Record<string, string>): DemoProcess {
    const child = spawn(process.execPath, ['--import', './demo/register.ts', './demo/run.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
    });
    return new DemoProcess(child);
  }

  /**
   * Starts the demo on a pseudo-terminal (`script -qfec`): its stdout is a TTY, as in a user's
   * terminal. Same environment rules as {@link DemoProcess.start}.
   */
  static startInTerminal(args: readonly string[], env: Record<string, string>): DemoProcess {
    const command = [process.execPath, '--import', './demo/register.ts', './demo/run.ts', ...args]
      .map((word) => `'${word.replaceAll("'", "'\\''")}'`)
      .join(' ');
    const child = spawn('script', ['-qfec', `exec ${command}`, '/dev/null'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new DemoProcess(child);
  }

  /** Types `text` on the demo's terminal (`\x03` is Ctrl-C); only for {@link startInTerminal}. */
  type(text: string): void {
    this.#child.stdin?.write(text);
  }

  /** Waits until the output contains `text`. */
  printed(text: string, timeoutMs = 120_000): Promise<true> {
    return this.#unlessExited(
      waitFor(() => this.#output.includes(text), {
        what: `the demo to print "${text}"`,
        timeoutMs,
        intervalMs: 50,
      }),
    );
  }

  /** Everything printed so far (stdout and stderr). */
  get output(): string {
    return this.#output;
  }

  /** Waits for the start line and returns the sidecar's base URL. */
  url(timeoutMs = 60_000): Promise<string> {
    return this.#unlessExited(
      waitFor(
        () => {
          if (this.#child.exitCode !== null) throw new Error(`demo exited early:\n${this.#output}`);
          return /sidecar on (http:\/\/[\d.]+:\d+)/.exec(this.#output)?.[1];
        },
        { what: 'the demo start line', timeoutMs },
      ),
    );
  }

  /** Waits until the workload has finished (the "Where to look" summary is printed). */
  finished(timeoutMs = 120_000): Promise<true> {
    return this.#unlessExited(
      waitFor(
        () => {
          if (this.#output.includes('Where to look:')) return true;
          if (this.#child.exitCode !== null) throw new Error(`demo exited early:\n${this.#output}`);
          return false;
        },
        { what: 'the demo workload to finish', timeoutMs, intervalMs: 50 },
      ),
    );
  }

  /** `waiting`, or a rejection naming the output as soon as the demo exits first. */
  #unlessExited<T>(waiting: Promise<T>): Promise<T> {
    const early = this.exited.then((code) => {
      throw new Error(`demo exited (${code}) early:\n${this.#output}`);
    });
    early.catch(() => undefined);
    return Promise.race([waiting, early]);
  }

  /** Sends SIGTERM and waits for the exit code. */
  async stop(): Promise<number | null> {
    await stopProcess(this.#child, 'SIGTERM');
    return this.exited;
  }
}
