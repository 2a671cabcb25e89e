/**
 * PostgreSQL stopped (`pg_ctl stop -m fast`) and started again under a host application that keeps
 * looking rows up: the host must not crash, calls in flight and after fail with
 * DatabaseUnavailableError only, and the service recovers without a restart. The host is a child
 * process started the way users start one, so that an unhandled 'error' event shows as its exit code.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.ts';
import { admin } from '../helpers/db.ts';
import { OwnPostgres } from '../helpers/postgres-server.ts';
import { waitFor } from '../helpers/wait.ts';

const SECRET = 'restart-secret-pw';

interface Status {
  readonly ok: number;
  readonly errors: Record<string, number>;
  readonly health: Record<string, number>;
  readonly pool: { readonly inUse: number; readonly waiting: number };
}

/** The host application, with its stdout parsed into status lines. */
class Host {
  readonly child: ChildProcessWithoutNullStreams;
  readonly statuses: Status[] = [];
  output = '';
  exitCode: number | null | undefined;
  readonly exited: Promise<number | null>;

  constructor(mode: 'concurrent' | 'sequential', url: string) {
    this.child = spawn(
      process.execPath,
      ['--import', 'perf-sidecar/register', join(ROOT, 'test/fixtures/db-restart.mjs')],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          DATABASE_URL: url,
          FIXTURE_TABLE: 'public.items',
          FIXTURE_MODE: mode,
          LOG_LEVEL: 'error',
        },
      },
    );
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code) => {
        this.exitCode = code;
        resolve(code);
      }),
    );
    // A host that died cannot read its stdin; the exit code is what the test reports then.
    this.child.stdin.on('error', () => undefined);
    let buffer = '';
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.output += chunk;
      buffer += chunk;
      for (let end = buffer.indexOf('\n'); end !== -1; end = buffer.indexOf('\n')) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 1);
        if (line.startsWith('{"fixture":')) this.statuses.push(JSON.parse(line) as Status);
      }
    });
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.output += chunk;
    });
  }

  /** A fresh status line from the host. */
  async status(): Promise<Status> {
    if (this.exitCode !== undefined) {
      throw new Error(`the host exited with code ${this.exitCode}: ${this.output.slice(-2000)}`);
    }
    const seen = this.statuses.length;
    this.child.stdin.write('status\n');
    return waitFor(() => this.statuses[seen], { what: `a status line (output so far: ${this.output})` });
  }

  /** Waits until the host's status satisfies `check`; fails at once when the host has died. */
  async until(check: (s: Status) => boolean, what: string): Promise<Status> {
    const found = await waitFor(
      async () => {
        // The host's death is the finding: stop polling at once and report it.
        if (this.exitCode !== undefined) return 'exited' as const;
        const s = await this.status();
        return check(s) ? s : undefined;
      },
      { what, timeoutMs: 30_000, intervalMs: 100 },
    );
    if (found === 'exited') {
      expect.fail(`the host exited with code ${this.exitCode}: ${this.output.slice(-2000)}`);
    }
    return found;
  }
}

const errorCount = (s: Status) => Object.values(s.errors).reduce((a, b) => a + b, 0);

describe('PostgreSQL stopped and started again under load', () => {
  let server: OwnPostgres;

  beforeAll(async () => {
    server = await OwnPostgres.start();
    await admin(async (c) => {
      await c.query('CREATE TABLE items (id integer PRIMARY KEY, label text NOT NULL)');
      await c.query("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 10) g");
    }, server.url());
  }, 60_000);

  afterAll(async () => {
    await server?.dispose();
  });

  for (const mode of ['concurrent', 'sequential'] as const) {
    it(`keeps the host alive (${mode === 'concurrent' ? '4 concurrent getById loops' : 'health plus lookup loop'}), fails calls with DatabaseUnavailableError only, and recovers`, async () => {
      if (!server.running) await server.start();
      const host = new Host(mode, server.url(SECRET));
      try {
        const before = await host.until((s) => s.ok >= 20, 'lookups to succeed');
        expect(before.errors).toEqual({});

        await server.pgCtlStop();
        const down = await host.until((s) => errorCount(s) >= 20, 'lookups to fail while the server is down');
        const okWhileDown = down.ok;

        await server.start();
        const recovered = await host.until((s) => s.ok >= okWhileDown + 20, 'lookups to succeed again');
        expect(Object.keys(recovered.errors)).toEqual(['DatabaseUnavailableError']);
        if (mode === 'sequential') {
          expect(recovered.health.pass).toBeGreaterThan(0);
          expect(recovered.health.fail).toBeGreaterThan(0);
        }

        host.child.stdin.write('stop\n');
        expect(await host.exited, host.output).toBe(0);
        const last = host.statuses.at(-1);
        expect(last?.pool).toMatchObject({ inUse: 0, waiting: 0 });
        expect(host.output).not.toContain(SECRET);
      } finally {
        host.child.kill('SIGKILL');
      }
    }, 90_000);
  }
});
