/**
 * A wrong DATABASE_URL is said once, at start, in the sidecar's own log: the reason and the server,
 * never the password. The sidecar runs as `npm start` runs it, in a child process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL } from '../helpers/env.ts';
import { type SidecarProcess, startSidecarProcess } from '../helpers/sidecar.ts';
import { waitFor } from '../helpers/wait.ts';

const SECRET = 'startup-secret-pw';
const MESSAGE = 'the database check is failing at start';
let sidecar: SidecarProcess | undefined;
afterEach(async () => {
  await sidecar?.stop();
  sidecar = undefined;
});

describe('a wrong DATABASE_URL at start', () => {
  it('logs once that the database check is failing and why, with the password redacted', async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.password = SECRET;
    url.pathname = '/no_such_database_here';
    sidecar = await startSidecarProcess(
      { server: true },
      { DATABASE_URL: url.toString(), LOG_LEVEL: 'info' },
    );
    const s = sidecar;
    const line = await waitFor(
      () =>
        s
          .stdout()
          .split('\n')
          .find((l) => l.includes(MESSAGE)),
      {
        what: `the start-up database warning (stdout: ${s.stdout()})`,
      },
    );
    const entry = JSON.parse(line) as { level: number; msg: string; database: string; err: string };
    expect(entry.level).toBe(40);
    expect(entry.msg).toContain('database "no_such_database_here" does not exist');
    expect(entry.database).toBe(url.toString().replace(SECRET, '***'));
    // The health endpoint checks again; the start-up message is still said only once.
    await fetch(`${s.url}/api/system/performance/health`);
    expect(
      s
        .stdout()
        .split('\n')
        .filter((l) => l.includes(MESSAGE)),
    ).toHaveLength(1);
    expect(s.stdout() + s.stderr()).not.toContain(SECRET);
  }, 60_000);
});
