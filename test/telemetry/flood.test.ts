/**
 * Cardinality flood: thousands of distinct operation names keep `/metrics` to the first
 * PERF_MAX_METRIC_OPERATIONS names plus `_other`, while reports keep PERF_MAX_OPERATIONS names
 * (and count every operation exactly once).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { getPerformanceReport, trackOperation } from '../../src/telemetry/index.ts';
import { durationBoundaries } from '../../src/telemetry/targets.ts';
import { startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';

let t: TestTelemetry | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

const NAMES = 5000;

function operationLines(text: string, metric: string): string[] {
  return text.split('\n').filter((line) => line.startsWith(`${metric}_`) || line.startsWith(`${metric}{`));
}

function operationLabels(lines: readonly string[]): Set<string> {
  return new Set(lines.map((line) => /perf_operation="([^"]*)"/.exec(line)?.[1] ?? '(none)'));
}

describe('a flood of distinct operation names', () => {
  it('exports the first PERF_MAX_METRIC_OPERATIONS names and _other, with a bounded number of series', async () => {
    t = await startTestTelemetry({
      REDIS_URL: '',
      PERF_MAX_OPERATIONS: '50',
      PERF_MAX_METRIC_OPERATIONS: '10',
    });
    for (let i = 0; i < NAMES; i++)
      trackOperation(`flood_${i}`, { targetSeconds: 1, measureResources: false }, () => i);
    // One slow-path name past the exported set that fails: its outcome must survive in reports.
    expect(() =>
      trackOperation('flood_20', { targetSeconds: 1, measureResources: false }, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    const text = await t.telemetry.renderPrometheus();

    const histogram = operationLines(text, 'perf_operation_duration');
    const exported = [...Array.from({ length: 10 }, (_, i) => `flood_${i}`), '_other'];
    expect([...operationLabels(histogram)].sort()).toEqual(exported.sort());
    // Each label set: one line per bucket (boundaries + Inf) plus _sum and _count. Flood_* names
    // were all fast and ok (one set each); `_other` also holds the failure (a second set).
    const perSet = durationBoundaries(Object.values(t.telemetry.targets)).length + 1 + 2;
    expect(histogram.length).toBe((exported.length + 1) * perSet);
    expect(text).not.toContain('perf_operation_tail');
    expect([...operationLabels(operationLines(text, 'perf_operation_target'))].sort()).toEqual(
      exported.sort(),
    );

    const report = await getPerformanceReport({ hours: 1 });
    const names = Object.keys(report.operations);
    expect(names.length).toBe(51);
    expect(names).toContain('flood_49');
    expect(names).not.toContain('flood_50');
    expect(report.operations.flood_20).toMatchObject({ count: 2, errors: 1, target_s: 1 });
    expect(report.operations._other?.count).toBe(NAMES - 50);
    const total = Object.values(report.operations).reduce((n, op) => n + op.count, 0);
    expect(total).toBe(NAMES + 1);
  });

  it('keeps breaches, frustrated counts and Apdex of operations not exported by name', async () => {
    t = await startTestTelemetry({
      REDIS_URL: '',
      PERF_MAX_OPERATIONS: '5',
      PERF_MAX_METRIC_OPERATIONS: '1',
    });
    trackOperation('first', { targetSeconds: 10, measureResources: false }, () => 1);
    // A target far below any real duration: every run is past 4T (frustrated).
    for (let i = 0; i < 3; i++)
      trackOperation('tail_op', { targetSeconds: 1e-9, measureResources: false }, () => 1);
    const op = (await getPerformanceReport({ hours: 1 })).operations.tail_op;
    expect(op).toMatchObject({ count: 3, breaches: 3, breach_rate: 1, apdex: 0 });
    const text = await t.telemetry.renderPrometheus();
    expect(text).toMatch(/perf_target_breaches(_total)?\{[^}]*perf_operation="_other"[^}]*\} 3/);
    expect(text).not.toContain('tail_op');
  });
});
