/**
 * prometheus.yml and prometheus-rules.yml with Debian's promtool: `check config`, `check rules`,
 * and `test rules` (the unit tests in prometheus-rules.test.yml: each rule fires on the series it is
 * meant for and stays quiet otherwise). A broken rule file must fail the same checks.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../helpers/child.ts';
import { run } from '../helpers/prometheus.ts';

describe('promtool', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perf-sidecar-promtool-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is installed (Debian package prometheus; .ci/run installs it)', async () => {
    const result = await run('promtool', ['--version']);
    expect(result.code, result.stderr).toBe(0);
  });

  it('accepts prometheus.yml, with its rule file', async () => {
    const result = await run('promtool', ['check', 'config', 'prometheus.yml'], { cwd: ROOT });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('SUCCESS: 1 rule files found');
  });

  it('accepts the alerting rules', async () => {
    const result = await run('promtool', ['check', 'rules', 'prometheus-rules.yml'], { cwd: ROOT });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toMatch(/SUCCESS: 11 rules found/);
  });

  it('keeps service_name in every rule over the operation metrics, and names the service in its summary', () => {
    const { groups } = parse(readFileSync(join(ROOT, 'prometheus-rules.yml'), 'utf8')) as {
      groups: { rules: { alert: string; expr: string; annotations: { summary: string } }[] }[];
    };
    const rules = groups.flatMap((g) => g.rules).filter((r) => /perf_operation_|perf_target_/.test(r.expr));
    expect(rules.map((r) => r.alert).sort()).toEqual([
      'PerfOperationErrorRateHigh',
      'PerfTargetBreachRateHigh',
    ]);
    for (const rule of rules) {
      const groupings = [...rule.expr.matchAll(/\bby \(([^)]*)\)/g)].map((m) => m[1]);
      expect(groupings.length, rule.alert).toBeGreaterThan(0);
      for (const by of groupings) expect(by, rule.alert).toBe('job, instance, service_name, perf_operation');
      expect(rule.annotations.summary, rule.alert).toContain('{{ $labels.service_name }}');
    }
  });

  it('passes the rules unit tests', async () => {
    const result = await run('promtool', ['test', 'rules', 'prometheus-rules.test.yml'], { cwd: ROOT });
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('SUCCESS');
  });

  it('rejects a rule file with a broken expression, and a unit test whose rule changed', async () => {
    const rules = readFileSync(join(ROOT, 'prometheus-rules.yml'), 'utf8');
    writeFileSync(
      join(dir, 'broken.yml'),
      rules.replace('expr: perf_db_pool_waiting > 0', 'expr: perf_db_pool_waiting >'),
    );
    expect((await run('promtool', ['check', 'rules', join(dir, 'broken.yml')])).code).not.toBe(0);

    writeFileSync(
      join(dir, 'prometheus-rules.yml'),
      rules.replace('perf_db_pool_waiting > 0', 'perf_db_pool_waiting > 5'),
    );
    writeFileSync(
      join(dir, 'prometheus-rules.test.yml'),
      readFileSync(join(ROOT, 'prometheus-rules.test.yml'), 'utf8'),
    );
    const result = await run('promtool', ['test', 'rules', 'prometheus-rules.test.yml'], { cwd: dir });
    expect(result.code).not.toBe(0);
    expect(result.stdout + result.stderr).toContain('PerfDbPoolWaiting');
  });
});
