/**
 * The option schemas of the telemetry part's constructors: a bad option is named, with what was
 * wrong and the accepted form, before anything is built.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { TargetSpanProcessor } from '../../src/telemetry/processor.ts';
import { ResourceSampler } from '../../src/telemetry/resources.ts';
import { RedisRollupStore } from '../../src/telemetry/rollup.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';

const redis = new Redis(TEST_REDIS_URL, { lazyConnect: true });
afterAll(() => redis.disconnect());

function messageOf(make: () => unknown): string {
  try {
    make();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    return (error as Error).message;
  }
  throw new Error('constructed without an error');
}

const processor = { serviceName: 'svc', maxOperations: 10, boundaries: [0.1, 1] };
const sampler = {
  alerts: { emit: () => undefined },
  serviceName: 'svc',
  memoryAlertThresholdMb: 512,
  cpuAlertThresholdPercent: 90,
};
const store = { client: redis, keyPrefix: 'p:', retentionDays: 7, maxOperations: 100 };

describe('telemetry option schemas', () => {
  it('accept what startTelemetry passes', () => {
    expect(new TargetSpanProcessor({ ...processor, maxMetricOperations: 5 }).targetOf('x')).toBeUndefined();
    expect(new ResourceSampler(sampler).eventLoopResolutionMs).toBe(10);
    expect(new RedisRollupStore({ ...store, client: Promise.resolve(redis) })).toBeInstanceOf(
      RedisRollupStore,
    );
  });

  it('name the bad processor option', () => {
    expect(messageOf(() => new TargetSpanProcessor({ ...processor, maxOperations: 0 }))).toBe(
      'options.maxOperations: is 0; expected an integer from 1 to 10000000',
    );
    expect(messageOf(() => new TargetSpanProcessor({ ...processor, boundaries: [1, -2] }))).toBe(
      'options.boundaries[1]: is -2; expected a number of seconds greater than 0, at most 345600',
    );
    expect(messageOf(() => new TargetSpanProcessor({ ...processor, alerts: {} as never }))).toBe(
      'options.alerts: is an object; expected an object with emit()',
    );
    expect(messageOf(() => new TargetSpanProcessor({ ...processor, bogus: 1 } as never))).toMatch(
      /^options\.bogus: is not a target span processor option; expected one of alerts, boundaries, /,
    );
  });

  it('name the bad sampler option', () => {
    expect(messageOf(() => new ResourceSampler({ ...sampler, memoryAlertThresholdMb: 0 }))).toBe(
      'options.memoryAlertThresholdMb: is 0; expected a number of MiB greater than 0, at most 1048576',
    );
    expect(messageOf(() => new ResourceSampler({ ...sampler, cpuSustainSamples: 1.5 }))).toBe(
      'options.cpuSustainSamples: is 1.5; expected an integer from 1 to 3600',
    );
  });

  it('name the bad rollup store option', () => {
    expect(messageOf(() => new RedisRollupStore({ ...store, client: 'redis://x' as never }))).toBe(
      'options.client: is "redis://x"; expected an ioredis client or a promise of one',
    );
    expect(messageOf(() => new RedisRollupStore({ ...store, retentionDays: 0 }))).toBe(
      'options.retentionDays: is 0; expected an integer number of days from 1 to 3660',
    );
  });
});
