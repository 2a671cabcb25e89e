import { trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheFixture } from '../helpers/cache.ts';
import { startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';

let t: TestTelemetry | undefined;
let f: CacheFixture | undefined;
afterEach(async () => {
  await f?.cleanup();
  f = undefined;
  await t?.cleanup();
  t = undefined;
});

/** The value of one Prometheus sample whose labels include all of `labels`, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      return Number(line.split(' ').pop());
  }
  return undefined;
}

describe('cache telemetry', () => {
  it('spans Redis round trips and factory runs only, never with a key or value', async () => {
    t = await startTestTelemetry();
    f = new CacheFixture();
    const cache = await f.open({ name: 'otel' });
    const secretKey = 'user:ada@example.com';
    await cache.getOrSet(secretKey, () => {
      trace.getTracer('app').startSpan('db.query').end();
      return { card: '4111-1111' };
    });
    const before = (await t.finishedSpans()).length;
    for (let i = 0; i < 100; i++) await cache.get(secretKey); // memory hits: no spans
    const spans = await t.finishedSpans();
    expect(spans.length).toBe(before);
    const names = spans.map((s) => s.name).sort();
    // The first read measures Redis's clock once (freshness is judged on it).
    expect(names).toEqual([
      'cache.factory',
      'cache.redis.clock',
      'cache.redis.read',
      'cache.redis.write',
      'db.query',
    ]);
    const factory = spans.find((s) => s.name === 'cache.factory');
    const query = spans.find((s) => s.name === 'db.query');
    expect(query?.parentSpanContext?.spanId).toBe(factory?.spanContext().spanId);
    const read = spans.find((s) => s.name === 'cache.redis.read');
    expect(read?.attributes).toMatchObject({ 'cache.name': 'otel', 'cache.operation': 'read' });
    for (const span of spans) {
      const text = JSON.stringify({ name: span.name, attributes: span.attributes, events: span.events });
      expect(text).not.toContain('ada@example.com');
      expect(text).not.toContain('4111');
    }
  });

  it('reports lookups by level and result, sizes and Redis latency through Prometheus', async () => {
    t = await startTestTelemetry();
    f = new CacheFixture();
    const cache = await f.open({ name: 'prom' });
    await cache.set('a', 'x');
    await cache.get('a');
    await cache.get('a');
    await cache.get('missing');
    const text = await t.telemetry.renderPrometheus();
    const lookup = (level: string, result: string) =>
      sample(text, 'perf_cache_lookups_total', {
        cache_name: 'prom',
        cache_level: level,
        cache_result: result,
      });
    expect(lookup('memory', 'hit')).toBe(2);
    expect(lookup('memory', 'miss')).toBe(1);
    expect(lookup('redis', 'miss')).toBe(1);
    expect(lookup('redis', 'hit')).toBe(0);
    expect(sample(text, 'perf_cache_entries', { cache_name: 'prom' })).toBe(1);
    expect(sample(text, 'perf_cache_breaker_open', { cache_name: 'prom' })).toBe(0);
    expect(
      sample(text, 'perf_cache_redis_duration_seconds_count', {
        cache_name: 'prom',
        cache_operation: 'read',
        perf_outcome: 'ok',
      }),
    ).toBe(1);
    expect(text).not.toContain('missing');
  });
});
