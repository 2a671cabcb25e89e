/**
 * The embedded default: with no DATABASE_URL the service starts PGlite on a loopback port and talks
 * to it with pg like to any server. It must answer the same lookups as the real PostgreSQL.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BatchFailedError,
  createDatabase,
  type Database,
  startEmbeddedPostgres,
} from '../../src/db/index.ts';
import { ROOT } from '../helpers/child.ts';
import { expectStandardLookups, USERS, usersTableStatements } from '../helpers/db.ts';
import { rejectionOf } from '../helpers/expect.ts';
import { waitFor } from '../helpers/wait.ts';

/** Whether a process with this pid exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the embedded default (no DATABASE_URL)', () => {
  let db: Database;

  beforeAll(async () => {
    db = await createDatabase({ poolSize: 2, maxOverflow: 2 });
    await db.executeBatch(usersTableStatements('app'));
  }, 90_000);

  afterAll(async () => {
    await db?.close();
  });

  it('is PGlite on a loopback port, reported as embedded', async () => {
    expect(db.embedded).toBe(true);
    expect(db.target).toMatch(/^postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    const health = await db.getHealthStatus();
    expect(health).toMatchObject({ status: 'pass', embedded: true, pool: { max: 4, min: 2 } });
    expect(health.serverVersion).toMatch(/^\d+\.\d+/);
    const { rows } = await db.query<{ version: string }>('SELECT version() AS version');
    expect(rows[0]?.version).toContain('PGlite');
  });

  it('answers the same lookups as the real PostgreSQL', async () => {
    await expectStandardLookups(db, 'app.users');
    expect(await db.getByFilter('app.users', { team: 'red' }, { limit: 1000 })).toHaveLength(
      USERS.filter((u) => u.team === 'red').length,
    );
  });

  it('keeps batches all-or-nothing, naming the failing operation', async () => {
    const error = await rejectionOf(
      db.executeBatch([
        {
          text: 'INSERT INTO app.users (id, name, team, age) VALUES ($1, $2, $3, $4)',
          values: [100, 'x', 'red', 1],
        },
        {
          text: 'INSERT INTO app.users (id, name, team, age) VALUES ($1, $2, $3, $4)',
          values: [1, 'dup', 'red', 1],
          label: 'dup',
        },
      ]),
      BatchFailedError,
    );
    expect(error.index).toBe(1);
    expect(await db.getById('app.users', 100)).toBeUndefined();
  });

  it('serves transactions of several connections at once without mixing them', async () => {
    const writes = Array.from({ length: 6 }, (_, i) =>
      db.executeBatch([
        {
          text: 'INSERT INTO app.users (id, name, team, age) VALUES ($1, $2, $3, $4)',
          values: [200 + i, `c${i}`, 'green', i],
        },
        { text: 'UPDATE app.users SET age = age + 100 WHERE id = $1', values: [200 + i] },
      ]),
    );
    await Promise.all(writes);
    const rows = await db.getByFilter<{ age: number }>('app.users', { team: 'green' }, { orderBy: 'id' });
    expect(rows.map((r) => r.age)).toEqual([100, 101, 102, 103, 104, 105]);
  });
});

describe('the embedded server in a process of its own', () => {
  it('returns before PGlite is up, lets calls wait for it, and runs it in another process', async () => {
    const db = await createDatabase({ poolSize: 1, maxOverflow: 0 });
    try {
      const starting = await db.getHealthStatus();
      expect(starting).toMatchObject({
        status: 'warn',
        warning: 'the embedded PostgreSQL is starting',
        embeddedServer: { state: 'starting' },
      });
      // Called while it starts: waits for it instead of failing.
      expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      const health = await db.getHealthStatus();
      expect(health.status).toBe('pass');
      const server = health.embeddedServer;
      expect(server?.state).toBe('running');
      expect(server?.pid).not.toBe(process.pid);
      expect(server?.rssBytes).toBeGreaterThan(0);
      const pid = server?.pid ?? process.pid;
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('embedded-worker');
      // The server the pool talks to is that process: killing it takes the database away.
      process.kill(pid, 'SIGKILL');
      const gone = await waitFor(
        async () => {
          const h = await db.getHealthStatus();
          return h.embeddedServer?.state === 'exited' ? h : undefined;
        },
        { what: 'health to fail once the embedded process is killed' },
      );
      expect(gone.status).toBe('fail');
      expect(gone.embeddedServer).toMatchObject({ state: 'exited', pid });
      expect(gone.error).toMatch(/^the embedded PostgreSQL is exited: its process \d+ exited with SIGKILL$/);
    } finally {
      await db.close();
    }
  }, 90_000);

  it('ends with its host, even when the host is killed with SIGKILL', async () => {
    const host = spawn(
      process.execPath,
      ['--import', 'perf-sidecar/register', join(ROOT, 'test/fixtures/db-embedded-host.mjs')],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'error' } },
    );
    let output = '';
    host.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    host.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    try {
      const line = await waitFor(() => output.split('\n').find((l) => l.startsWith('{"fixture":')), {
        what: `the host to report (output: ${output})`,
        timeoutMs: 60_000,
      });
      const seen = JSON.parse(line) as { host: number; health: { embeddedServer?: { pid: number } } };
      const pid = seen.health.embeddedServer?.pid ?? seen.host;
      expect(pid).not.toBe(seen.host);
      expect(alive(pid)).toBe(true);
      host.kill('SIGKILL');
      await waitFor(() => !alive(pid), { what: `the embedded process ${pid} to exit after its host` });
      expect(alive(pid)).toBe(false);
    } finally {
      host.kill('SIGKILL');
    }
  }, 90_000);
});

describe('startEmbeddedPostgres', () => {
  it('serves plain pg clients and stops cleanly', async () => {
    const server = await startEmbeddedPostgres({ maxConnections: 2 });
    const client = new pg.Client({ connectionString: server.url });
    try {
      await client.connect();
      expect((await client.query<{ n: number }>('SELECT 40 + $1::int AS n', [2])).rows).toEqual([{ n: 42 }]);
    } finally {
      await client.end();
      await server.stop();
    }
    const after = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 2000 });
    await expect(after.connect()).rejects.toThrow(/ECONNREFUSED/);
  }, 90_000);

  it('refuses bad options before starting anything', async () => {
    await expect(startEmbeddedPostgres({ maxConnections: 0 })).rejects.toThrow(
      'options.maxConnections: is 0; expected an integer from 1 to 2000',
    );
  });
});
