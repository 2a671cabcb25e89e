/**
 * Error budgets in a running telemetry: what the summary and /metrics show, the objectives given
 * to `startTelemetry({ slos })` and the rules file, the minute counts the rollups write for the
 * budgets, and `PERF_ALERT_EACH_BREACH=false`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { InvalidArgumentError, startTelemetry, stopTelemetry, trackOperation } from '../../src/index.ts';
import { performanceReportOf } from '../../src/telemetry/report.ts';
import { budgetStore, minutes, writeMinutes } from '../helpers/budgets.ts';
import { promtoolCheckMetrics } from '../helpers/prometheus.ts';
import { busyFor, startConnectedTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

const MINUTE = 60_000;

describe('error budgets in the telemetry', () => {
  let t: TestTelemetry | undefined;
  afterEach(async () => {
    await t?.cleanup();
    t = undefined;
    await stopTelemetry();
  });

  it('shows each operation budget in the summary and as gauges on /metrics, from what the instances wrote', async () => {
    t = await startConnectedTelemetry({ PERF_SLO_OBJECTIVE: '0.995' });
    const budgets = t.telemetry.budgets;
    if (!budgets) throw new Error('no budget monitor');
    // Another instance's minutes, as its rollup exporter writes them: 60 good minutes, then 5 bad,
    // the last being the minute the monitor judges (written again if a minute began meanwhile).
    await t.redis.ping();
    const store = budgetStore(t.redis, t.prefix, '0.995/30/1');
    let last = Math.floor(Date.now() / MINUTE) - 1;
    await writeMinutes(store, 'checkout', minutes(last - 64, last - 5, 100));
    await writeMinutes(store, 'checkout', minutes(last - 4, last, 100, 100));
    await budgets.evaluate();
    while (Math.floor(Date.now() / MINUTE) - 1 !== last) {
      await t.cleanup();
      t = await startConnectedTelemetry({ PERF_SLO_OBJECTIVE: '0.995' });
      await t.redis.ping();
      last = Math.floor(Date.now() / MINUTE) - 1;
      const again = budgetStore(t.redis, t.prefix, '0.995/30/1');
      await writeMinutes(again, 'checkout', minutes(last - 64, last - 5, 100));
      await writeMinutes(again, 'checkout', minutes(last - 4, last, 100, 100));
      await t.telemetry.budgets?.evaluate();
    }
    const report = await performanceReportOf(t.telemetry, { hours: 2 });
    expect(Date.parse(report.operations.checkout?.slo?.evaluated_at ?? '')).toBeGreaterThan(
      Date.now() - MINUTE,
    );
    const slo = report.operations.checkout?.slo;
    expect(slo).toMatchObject({
      objective: 0.995,
      period_days: 30,
      errors_are_bad: true,
      period_runs: 6500,
      period_bad_runs: 500,
    });
    expect(slo?.budget_remaining).toBeCloseTo(1 - 500 / (0.005 * 6500), 3);
    expect(slo?.burn_rates['5m']).toBe(200);
    expect(slo?.alerts).toEqual(['page', 'ticket']);
    const metrics = await t.telemetry.renderPrometheus();
    expect(metrics).toMatch(/perf_slo_budget_remaining\{[^}]*perf_operation="checkout"/);
    expect(metrics).toMatch(/perf_slo_burn_rate\{[^}]*perf_slo_window="5m"[^}]*\} 200/);
    expect(metrics).toMatch(/perf_slo_alert_active\{[^}]*perf_slo_severity="page"[^}]*\} 1/);
    const checked = await promtoolCheckMetrics(metrics);
    expect(checked.output).toBe('');
    expect(checked.code).toBe(0);
  });

  it('counts its own spans into the budget hashes with the objective the rules file gives', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perf-slo-rules-'));
    const file = join(dir, 'rules.yaml');
    writeFileSync(
      file,
      'rules:\n  - match: { span.name: export }\n    target_seconds: 0.01\n    objective: 0.9\n    period_days: 7\n',
    );
    t = await startConnectedTelemetry({ PERF_RULES_FILE: file });
    for (let i = 0; i < 3; i++) await trackOperation('export', () => busyFor(20));
    await trackOperation('report', { targetSeconds: 1 }, () => undefined);
    await t.telemetry.windows.flush();
    const day = new Date().toISOString().slice(0, 10);
    const specs = await t.redis.hgetall(`${t.prefix}slo:specs:${day}`);
    expect(specs['0:export']).toBe('0.9/7/1');
    expect(specs['0:report']).toBe('0.99/30/1');
    const counts = await t.redis.hgetall(`${t.prefix}slo:d:${day}`);
    expect(counts).toMatchObject({ 'c:0:export': '3', 'b:0:export': '3', 'c:0:report': '1' });
    const traces = await t.redis.hget(`${t.prefix}slo:traces:${day}`, '0:export');
    expect(traces).toMatch(/^[0-9a-f]{32} [0-9a-f]{16} [01] \d+$/);
  });

  it('raises no target_exceeded alert with PERF_ALERT_EACH_BREACH=false, and counts the breach', async () => {
    t = await startConnectedTelemetry({ PERF_ALERT_EACH_BREACH: 'false' });
    await trackOperation('slow_op', { targetSeconds: 0.001 }, () => busyFor(30));
    await trackOperation('slow_op_2', { targetSeconds: 0.001 }, () => busyFor(30));
    await t.telemetry.windows.flush();
    const report = await performanceReportOf(t.telemetry, { hours: 1 });
    expect(report.operations.slow_op?.breaches).toBe(1);
    await t.telemetry.alerts.flush();
    expect(await t.list(t.performanceList)).toEqual([]);
    // The same breach with the default raises one.
    await t.cleanup();
    t = await startConnectedTelemetry();
    await trackOperation('slow_op', { targetSeconds: 0.001 }, () => busyFor(30));
    await waitFor(async () => (await t?.list(t.performanceList))?.length === 1, {
      what: 'the target_exceeded alert',
    });
  });

  it('refuses objectives outside (0, 1) and periods outside 1 to 90 days, naming the entry', () => {
    const config = loadConfig({ REDIS_URL: '', LOG_LEVEL: 'warn' });
    const start = (slos: unknown) => () =>
      startTelemetry({ config, instrumentations: [], slos: slos as Record<string, never> });
    expect(start({ checkout: { objective: 1 } })).toThrow(InvalidArgumentError);
    expect(start({ checkout: { objective: 1 } })).toThrow(
      /options\.slos\.checkout.*objective.*between 0 and 1/,
    );
    expect(start({ checkout: { periodDays: 91 } })).toThrow(/periodDays.*whole number of days from 1 to 90/);
    expect(start({ checkout: { objectve: 0.9 } })).toThrow(/objectve/);
    expect(start({ 'bad\nname': {} })).toThrow(/options\.slos/);
    expect(start([])).toThrow(/options\.slos/);
  });
});
