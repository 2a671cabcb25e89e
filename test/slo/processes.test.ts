/**
 * Two evaluator processes on one real Redis, with a breaching workload written minute by minute as
 * instances write it: exactly one firing and one resolved record per episode; the evaluator's
 * process killed mid-episode, the other takes the lease over and does not fire again.
 *
 * Time runs SPEED times faster in the evaluators (a minute per second), the lease in real time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlertRecord, alertRecordSchema } from '../../src/alerts/index.ts';
import { budgetStore, minutes, writeMinutes } from '../helpers/budgets.ts';
import { ROOT } from '../helpers/child.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { deleteKeys } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

const SPEED = 60;
const LEASE_MS = 3000;
const INTERVAL_MS = 250;
const MINUTE = 60_000;

interface Evaluator {
  readonly child: ChildProcess;
  readonly token: string;
}

describe('two evaluator processes on one Redis', () => {
  const redis = new Redis(TEST_REDIS_URL);
  const prefix = `perf-test:${randomUUID()}:`;
  const real0 = Date.now();
  const sim0 = real0;
  const simNow = () => sim0 + (Date.now() - real0) * SPEED;
  const evaluators: Evaluator[] = [];
  let writer: NodeJS.Timeout | undefined;
  let bad = false;
  let written = Math.floor(sim0 / MINUTE) - 1;

  function start(): Promise<Evaluator> {
    const child = spawn(process.execPath, [join(ROOT, 'test/slo/fixtures/evaluator.ts')], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        SLO_REDIS_URL: TEST_REDIS_URL,
        SLO_PREFIX: prefix,
        SLO_REAL0: String(real0),
        SLO_SIM0: String(sim0),
        SLO_SPEED: String(SPEED),
        SLO_LEASE_MS: String(LEASE_MS),
        SLO_INTERVAL_MS: String(INTERVAL_MS),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    return new Promise((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the evaluator exited with ${code}`)));
      createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const message = JSON.parse(line) as { ready?: boolean; token?: string };
        if (message.ready && message.token) {
          const evaluator = { child, token: message.token };
          evaluators.push(evaluator);
          resolve(evaluator);
        }
      });
    });
  }

  const pageRecords = async (): Promise<AlertRecord[]> =>
    (await redis.lrange(`${prefix}performance_alerts`, 0, -1))
      .map((r) => alertRecordSchema.parse(JSON.parse(r)))
      .filter((r) => r.type === 'slo_burn_rate' && r.severity === 'page');

  beforeAll(async () => {
    await redis.ping();
    const store = budgetStore(redis, prefix);
    // Two hours of good runs before the evaluators start.
    await writeMinutes(store, 'checkout', minutes(written - 119, written, 100));
    // The instances' workload: each minute written once it has ended, bad or good as the test says.
    const tick = async () => {
      const complete = Math.floor(simNow() / MINUTE) - 1;
      while (written < complete) {
        written++;
        await writeMinutes(store, 'checkout', [{ minute: written, runs: 100, over: bad ? 100 : 0 }]);
      }
    };
    let writing = Promise.resolve();
    writer = setInterval(() => {
      writing = writing.then(tick).catch(() => undefined);
    }, 50);
  });

  afterAll(async () => {
    if (writer) clearInterval(writer);
    for (const e of evaluators) e.child.kill('SIGKILL');
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('writes one firing record, survives the death of the evaluator, and writes one resolved record', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    const holder = async () => redis.get(`${prefix}slo:lease`);
    await waitFor(async () => [a.token, b.token].includes((await holder()) ?? ''), {
      what: 'one of the two evaluators holding the lease',
    });
    bad = true;
    const firing = await waitFor(
      async () => {
        const records = await pageRecords();
        return records.length > 0 ? records : undefined;
      },
      { what: 'the firing record of the outage', timeoutMs: 30_000 },
    );
    expect(firing.map((r) => r.status)).toEqual(['firing']);

    // Kill the lease holder mid-episode: the other evaluator takes the lease over once it expires.
    const leader = (await holder()) === a.token ? a : b;
    const survivor = leader === a ? b : a;
    leader.child.kill('SIGKILL');
    await waitFor(async () => (await holder()) === survivor.token, {
      what: 'the surviving evaluator taking the lease over',
      timeoutMs: LEASE_MS + 10 * INTERVAL_MS + 5000,
    });
    // Several minutes of the same episode under the new holder: nothing new is written.
    const takenAt = Math.floor(simNow() / MINUTE);
    await waitFor(() => Math.floor(simNow() / MINUTE) >= takenAt + 3, {
      what: 'three more minutes of outage',
    });
    expect((await pageRecords()).map((r) => r.status)).toEqual(['firing']);

    // The burn stops: one resolved record, for the same episode.
    bad = false;
    const done = await waitFor(
      async () => {
        const records = await pageRecords();
        return records.length > 1 ? records : undefined;
      },
      { what: 'the resolved record', timeoutMs: 80_000 },
    );
    expect(done.map((r) => r.status)).toEqual(['resolved', 'firing']);
    expect(done[0]?.slo?.episode_id).toBe(done[1]?.id);
    expect(done[0]?.fingerprint).toBe(done[1]?.fingerprint);
    // And nothing more while the survivor keeps evaluating.
    const after = Math.floor(simNow() / MINUTE);
    await waitFor(() => Math.floor(simNow() / MINUTE) >= after + 3, { what: 'three more good minutes' });
    expect((await pageRecords()).map((r) => r.status)).toEqual(['resolved', 'firing']);
  }, 150_000);
});
