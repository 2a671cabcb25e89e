/**
 * The telemetry on a real three-master Redis Cluster (`REDIS_CLUSTER=true`, a hash tag in
 * `ALERT_KEY_PREFIX`): alerts pushed to the lists and read back, consumed by `consumeAlerts`,
 * summary rollups written and read back by the report, error budgets judged from the budget
 * hashes; and the configuration refused without a hash tag.
 */
import { randomUUID } from 'node:crypto';
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlertRecord, consumeAlerts } from '../../src/alerts/index.ts';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { InvalidArgumentError, startTelemetry, stopTelemetry, trackOperation } from '../../src/index.ts';
import type { Telemetry } from '../../src/telemetry/index.ts';
import { performanceReportOf } from '../../src/telemetry/report.ts';
import { OwnRedisCluster } from '../helpers/redis-cluster.ts';
import { busyFor } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

describe('telemetry on a Redis Cluster', () => {
  let cluster: OwnRedisCluster;
  let telemetry: Telemetry;
  const prefix = `{perf-test-${randomUUID().slice(0, 8)}}:`;

  beforeAll(async () => {
    cluster = await OwnRedisCluster.start();
    const [seed] = cluster.startupNodes;
    const config = loadConfig({
      REDIS_URL: `redis://127.0.0.1:${seed?.port}`,
      REDIS_CLUSTER: 'true',
      ALERT_KEY_PREFIX: prefix,
      LOG_LEVEL: 'warn',
      OTEL_SERVICE_NAME: 'cluster-test',
    });
    telemetry = startTelemetry({ config, instrumentations: [] });
    await waitFor(() => telemetry.alerts.available, { what: 'the alert store on the cluster' });
  }, 60_000);

  afterAll(async () => {
    await stopTelemetry();
    await cluster?.stop();
  });

  it('pushes an alert to the list and reads it back, and a consumer on the cluster takes it', async () => {
    await trackOperation('cluster_op', { targetSeconds: 0.001 }, () => busyFor(20));
    const [alert] = await waitFor(
      async () => {
        const found = await telemetry.alerts.recent({ type: 'target_exceeded', limit: 10 });
        return found.length > 0 ? found : undefined;
      },
      { what: 'the target_exceeded record in the cluster list' },
    );
    expect(alert?.labels.operation).toBe('cluster_op');
    const client = new Cluster(cluster.startupNodes);
    client.on('error', () => undefined);
    const taken: AlertRecord[] = [];
    const consumer = consumeAlerts({
      redis: client,
      list: `${prefix}performance_alerts`,
      handler: (record) => {
        taken.push(record);
      },
    });
    try {
      await waitFor(() => taken.some((r) => r.id === alert?.id), { what: 'the consumer taking the record' });
      await waitFor(() => consumer.acknowledged > 0, { what: 'the record acknowledged' });
    } finally {
      await consumer.stop();
      client.disconnect();
    }
  });

  it('writes the summary rollups and reads them back in the report', async () => {
    for (let i = 0; i < 3; i++) await trackOperation('rolled_up', { targetSeconds: 1 }, () => undefined);
    await telemetry.windows.flush();
    const report = await performanceReportOf(telemetry, { hours: 1, operation: 'rolled_up' });
    expect(report.window.source).toBe('redis');
    expect(report.operations.rolled_up?.count).toBe(3);
  });

  it('judges the error budgets from the budget hashes on the cluster', async () => {
    await telemetry.windows.flush();
    await telemetry.budgets?.evaluate();
    expect(telemetry.budgets?.evaluations).toBeGreaterThan(0);
    expect(telemetry.budgets?.leader).toBe(true);
  });
});

describe('the configuration of a cluster', () => {
  it('refuses REDIS_CLUSTER without a hash tag in ALERT_KEY_PREFIX, naming the variable', () => {
    const load = () =>
      loadConfig({ REDIS_URL: 'redis://127.0.0.1:7000', REDIS_CLUSTER: 'true', ALERT_KEY_PREFIX: 'app:' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(
      /ALERT_KEY_PREFIX: is "app:", without a hash tag.*expected a prefix with a hash tag, such as \{perf\}:/,
    );
    expect(() => loadConfig({ REDIS_CLUSTER: 'true', ALERT_KEY_PREFIX: '{a}:' })).toThrow(
      /REDIS_CLUSTER: is true without REDIS_URL/,
    );
    expect(
      loadConfig({ REDIS_URL: 'redis://h:1', REDIS_CLUSTER: 'yes', ALERT_KEY_PREFIX: 'x{tenant}:' })
        .redisCluster,
    ).toBe(true);
  });

  it('refuses a cluster client given to startTelemetry when the prefix has no hash tag', () => {
    const client = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
    const config = loadConfig({ LOG_LEVEL: 'warn', ALERT_KEY_PREFIX: '{}:' });
    try {
      expect(() => startTelemetry({ config, redis: client, instrumentations: [] })).toThrow(
        InvalidArgumentError,
      );
      expect(() => startTelemetry({ config, redis: client, instrumentations: [] })).toThrow(
        /options\.redis.*Redis Cluster.*hash tag/,
      );
    } finally {
      client.disconnect();
    }
  });
});
