/**
 * Reading alert lists that another program has written to: entries that are not `alert.v1` are
 * counted and looked past (up to a bounded scan), an oversized entry is never transferred, and the
 * endpoint and `/metrics` report what was skipped. Real Redis (the test's own server where bytes
 * sent are measured).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { buildAlert } from '../../src/alerts/schema.ts';
import { createApp } from '../../src/http/index.ts';
import { targetAlert } from '../helpers/alerts.ts';
import { OwnRedis } from '../helpers/redis-server.ts';
import { startConnectedTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';

let t: TestTelemetry | undefined;
let own: OwnRedis | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
  await own?.dispose();
  own = undefined;
});

function record(n: number): string {
  return JSON.stringify(buildAlert(targetAlert(n, Date.UTC(2026, 0, 1) + n * 1000)));
}

interface AlertsAnswer {
  count: number;
  alerts: { labels: { operation?: string } }[];
  skipped: { invalid: number; oversized: number };
  truncated: boolean;
}

async function alertsOf(tel: TestTelemetry, path = '/api/system/alerts'): Promise<AlertsAnswer> {
  const app = createApp({ telemetry: tel.telemetry, middleware: false });
  const res = await app.request(path);
  expect(res.status).toBe(200);
  return (await res.json()) as AlertsAnswer;
}

async function sentBytes(tel: TestTelemetry): Promise<number> {
  const info = await tel.redis.info('stats');
  return Number(/total_net_output_bytes:(\d+)/.exec(info)?.[1]);
}

describe('alert lists with entries written by another program', () => {
  it('looks past 1,000 junk entries to the alerts behind them, and counts them', async () => {
    t = await startConnectedTelemetry();
    const list = t.performanceList;
    // Three real records (oldest first), then 1,000 entries of junk pushed on top.
    await t.redis.lpush(list, record(1), record(2), record(3));
    const junk = Array.from({ length: 1000 }, (_, i) =>
      i % 3 === 0 ? `not json ${i}` : i % 3 === 1 ? JSON.stringify({ schema: 'other.v2', i }) : '{"id":',
    );
    await t.redis.lpush(list, ...junk);

    const answer = await alertsOf(t);
    expect(answer.count).toBe(3);
    expect(answer.alerts.map((a) => a.labels.operation)).toEqual(['op_3', 'op_2', 'op_1']);
    expect(answer.skipped).toEqual({ invalid: 1000, oversized: 0 });
    expect(answer.truncated).toBe(false);

    const metrics = await t.telemetry.renderPrometheus();
    expect(metrics).toMatch(/perf_alerts_read_skipped_total\{[^}]*reason="invalid"[^}]*\} 1000\b/);
  });

  it('stops at a bounded scan and says so', async () => {
    t = await startConnectedTelemetry();
    const list = t.performanceList;
    await t.redis.lpush(list, record(1));
    // More junk than one call scans.
    for (let i = 0; i < 6; i++) await t.redis.lpush(list, ...Array.from({ length: 1000 }, () => 'junk'));
    const answer = await alertsOf(t);
    expect(answer.count).toBe(0);
    expect(answer.truncated).toBe(true);
    expect(answer.skipped.invalid).toBe(5000);
  });

  it('never transfers an oversized entry: a 30 MB entry is reported by size only', async () => {
    own = await OwnRedis.start();
    t = await startConnectedTelemetry({ REDIS_URL: own.url });
    const list = t.performanceList;
    await t.redis.lpush(list, record(1));
    await t.redis.lpush(list, 'x'.repeat(30 * 1024 * 1024));
    await t.redis.lpush(list, record(2));

    const before = await sentBytes(t);
    const answer = await alertsOf(t);
    const sent = (await sentBytes(t)) - before;
    expect(answer.alerts.map((a) => a.labels.operation)).toEqual(['op_2', 'op_1']);
    expect(answer.skipped).toEqual({ invalid: 0, oversized: 1 });
    // Every list read, plus the INFO replies: far below the 30 MB entry.
    expect(sent).toBeLessThan(1024 * 1024);

    const metrics = await t.telemetry.renderPrometheus();
    expect(metrics).toMatch(/perf_alerts_read_skipped_total\{[^}]*reason="oversized"[^}]*\} 1\b/);
  });

  it('bounds the bytes read per call: many large (under the entry cap) entries end the scan early', async () => {
    t = await startConnectedTelemetry();
    const list = t.performanceList;
    await t.redis.lpush(list, record(1));
    // 200 entries of 60 KiB: 12 MB in all, more than one call reads.
    const big = `{"pad":"${'y'.repeat(60 * 1024)}"}`;
    for (let i = 0; i < 4; i++) await t.redis.lpush(list, ...Array.from({ length: 50 }, () => big));
    const answer = await alertsOf(t);
    expect(answer.truncated).toBe(true);
    expect(answer.count).toBe(0);
    expect(answer.skipped.invalid).toBeGreaterThan(0);
    expect(answer.skipped.invalid).toBeLessThan(200);
  });
});
