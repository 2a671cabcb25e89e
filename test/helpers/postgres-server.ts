/**
 * A PostgreSQL cluster of the test's own (initdb + postgres) on a spare loopback port, for tests that
 * stop and restart the server. The shared server is never touched. Stopped by its PID, never by
 * name. PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, stopProcess } from './redis-server.ts';
import { waitFor } from './wait.ts';

function binDir(): string {
  if (process.env.TEST_PG_BINDIR) return process.env.TEST_PG_BINDIR;
  return execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
}

/** uid and gid to run PostgreSQL as: the `postgres` user when we are root, else ourselves. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** A postgres server process the test controls. */
export class OwnPostgres {
  readonly port: number;
  readonly #dir: string;
  readonly #bin: string;
  readonly #user: { uid: number; gid: number } | undefined;
  #process: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
    this.#bin = binDir();
    this.#user = runAs();
    this.#dir = mkdtempSync(join(tmpdir(), 'perf-sidecar-pg-'));
    if (this.#user) chownSync(this.#dir, this.#user.uid, this.#user.gid);
  }

  /** Whether the server process is running. */
  get running(): boolean {
    return this.#process !== undefined;
  }

  /** URL of its `postgres` database, with `password` added (trust auth ignores it). */
  url(password?: string): string {
    const secret = password === undefined ? '' : `:${encodeURIComponent(password)}`;
    return `postgresql://postgres${secret}@127.0.0.1:${this.port}/postgres`;
  }

  /** initdb in a temporary directory, then starts the server. */
  static async start(): Promise<OwnPostgres> {
    const server = new OwnPostgres(await freePort());
    execFileSync(
      join(server.#bin, 'initdb'),
      ['-D', join(server.#dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync'],
      { stdio: 'pipe', ...(server.#user ?? {}) },
    );
    await server.start();
    return server;
  }

  /** (Re)starts the server on the same port and waits until it answers. */
  async start(): Promise<void> {
    if (this.#process) return;
    const child = spawn(
      join(this.#bin, 'postgres'),
      [
        '-D',
        join(this.#dir, 'data'),
        '-p',
        String(this.port),
        '-k',
        this.#dir,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
      ],
      { stdio: 'ignore', ...(this.#user ?? {}) },
    );
    this.#process = child;
    child.once('exit', () => {
      if (this.#process === child) this.#process = undefined;
    });
    await waitFor(
      async () => {
        const client = new pg.Client({ connectionString: this.url(), connectionTimeoutMillis: 1000 });
        try {
          await client.connect();
          await client.query('SELECT 1');
          return true;
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      { what: `postgres on port ${this.port}`, timeoutMs: 20_000 },
    );
  }

  /**
   * Stops the server with a fast shutdown (SIGINT: clients are disconnected at once) and waits for
   * the process to exit.
   */
  async stop(): Promise<void> {
    const child = this.#process;
    if (!child) return;
    await stopProcess(child, 'SIGINT');
    this.#process = undefined;
  }

  /**
   * Stops the server the way an operator does, `pg_ctl stop -m fast` (clients are disconnected at
   * once with 57P01), and waits for the process to exit.
   */
  async pgCtlStop(): Promise<void> {
    const child = this.#process;
    if (!child) return;
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
    execFileSync(join(this.#bin, 'pg_ctl'), ['stop', '-D', join(this.#dir, 'data'), '-m', 'fast', '-w'], {
      stdio: 'pipe',
      ...(this.#user ?? {}),
    });
    await exited;
    this.#process = undefined;
  }

  /** Stops the server and removes its directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
