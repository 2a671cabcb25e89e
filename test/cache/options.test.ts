/** The options schema: defaults, bounds and cross-field rules in one place, and the resolved form. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CACHE_DEFAULTS, cacheOptionsSchema, resolveCacheOptions } from '../../src/cache/options.ts';
import { jsonSerializer } from '../../src/cache/serializer.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { getLogger } from '../../src/shared/logger.ts';
import { defaultOf, expectedOf } from '../../src/shared/options.ts';
import { rejectionOf } from '../helpers/expect.ts';

/** The error resolving `options` throws. */
function refusal(options: unknown): Promise<InvalidArgumentError> {
  return rejectionOf((async () => resolveCacheOptions(options as never))(), InvalidArgumentError);
}

describe('cache options schema', () => {
  it('derives CACHE_DEFAULTS from the schema, without the options callers bring as objects', () => {
    expect(CACHE_DEFAULTS).toMatchObject({
      name: 'default',
      prefix: 'perf-cache:',
      maxItems: 10_000,
      maxBytes: 64 * 1024 * 1024,
      maxEntryBytes: 64 * 1024,
      defaultTtlSeconds: 300,
      absentTtlSeconds: 30,
      maxTtlSeconds: 30 * 86_400,
      graceSeconds: 0,
      graceBackoffSeconds: 5,
      factoryHardTimeoutMs: 30_000,
      redisCommandTimeoutMs: 250,
    });
    expect(
      'factorySoftTimeoutMs' in CACHE_DEFAULTS && CACHE_DEFAULTS.factorySoftTimeoutMs === undefined,
    ).toBe(true);
    for (const object of ['redis', 'serializer', 'meter', 'logger'])
      expect(object in CACHE_DEFAULTS).toBe(false);
    expect(Object.isFrozen(CACHE_DEFAULTS)).toBe(true);
  });

  it('keeps redisCommandTimeoutMs where the configuration reads it: 10 to 60000, default 250', () => {
    const field = cacheOptionsSchema.shape.redisCommandTimeoutMs;
    expect(expectedOf(field)).toBe('an integer number of milliseconds from 10 to 60000');
    expect(defaultOf(field)).toBe(250);
    expect(field.safeParse(9).success).toBe(false);
    expect(field.safeParse(60_001).success).toBe(false);
  });

  it('resolves once into frozen, ms-based options', () => {
    const resolved = resolveCacheOptions({
      defaultTtlSeconds: 0.0012,
      graceSeconds: 1.2345,
      absentTtlSeconds: 0,
      graceBackoffSeconds: 2,
      maxTtlSeconds: 3600,
    });
    expect(resolved).toMatchObject({
      defaultTtlMs: 1,
      graceMs: 1235,
      absentTtlMs: 0,
      graceBackoffMs: 2000,
      maxTtlMs: 3_600_000,
      maxItems: 10_000,
    });
    expect('defaultTtlSeconds' in resolved).toBe(false);
    expect(resolved.serializer).toBe(jsonSerializer);
    expect(Object.isFrozen(resolved)).toBe(true);
  });

  it('refuses values outside their bounds in the usual form', async () => {
    expect((await refusal({ maxItems: 0 })).message).toBe(
      'options.maxItems: is 0; expected an integer from 1 to 100000000',
    );
    expect((await refusal({ ttlJitter: 2 })).message).toBe(
      'options.ttlJitter: is 2; expected a number from 0 to 1',
    );
    expect((await refusal({ name: 'has space' })).message).toBe(
      'options.name: is "has space"; expected 1 to 64 letters, digits or _ . : -',
    );
    expect((await refusal({ defaultTtlSeconds: Number.NaN })).argument).toBe('options.defaultTtlSeconds');
    expect((await refusal(null)).message).toBe('options: is null; expected an object of cache options');
    expect((await refusal({ maxItem: 1 })).message).toMatch(
      /^options\.maxItem: is not a cache option; expected one of .*logger/,
    );
  });

  it('checks the rules between options as custom issues naming the other option', async () => {
    expect((await refusal({ maxBytes: 100, maxEntryBytes: 101 })).message).toBe(
      'options.maxEntryBytes: is 101; expected an integer from 0 to maxBytes (100)',
    );
    expect((await refusal({ factoryHardTimeoutMs: 100, factorySoftTimeoutMs: 100 })).message).toBe(
      'options.factorySoftTimeoutMs: is 100; expected an integer number of ms from 0 to below factoryHardTimeoutMs (100)',
    );
    for (const option of ['defaultTtlSeconds', 'absentTtlSeconds', 'graceSeconds']) {
      expect((await refusal({ maxTtlSeconds: 600, [option]: 601 })).message).toBe(
        `options.${option}: is 601; expected a number of seconds no more than maxTtlSeconds (600)`,
      );
    }
    // A default counts too: the default TTL (300) is over a maxTtlSeconds of 60.
    expect((await refusal({ maxTtlSeconds: 60 })).message).toBe(
      'options.defaultTtlSeconds: is 300; expected a number of seconds no more than maxTtlSeconds (60)',
    );
    expect(() =>
      resolveCacheOptions({
        maxTtlSeconds: 60,
        defaultTtlSeconds: 60,
        graceSeconds: 60,
        factorySoftTimeoutMs: 0,
      }),
    ).not.toThrow();
  });

  it('never echoes a redis string, and accepts a URL or a client', async () => {
    const hidden = await refusal({ redis: 'http://user:hunter2@example' });
    expect(hidden.message).toBe(
      'options.redis: is a string that is not a redis:// or rediss:// URL; expected an ioredis client or a redis:// URL',
    );
    expect((await refusal({ redis: 42 })).message).toBe(
      'options.redis: is 42; expected an ioredis client or a redis:// URL',
    );
    expect(resolveCacheOptions({ redis: 'rediss://:pw@host:6380/1' }).redis).toBe('rediss://:pw@host:6380/1');
    const client = { duplicate: () => client };
    expect(resolveCacheOptions({ redis: client as never }).redis).toBe(client);
  });

  it('checks the objects it is given: serializer, meter and logger', async () => {
    expect((await refusal({ serializer: { serialize: () => '' } })).argument).toBe('options.serializer');
    expect((await refusal({ meter: {} })).message).toBe(
      'options.meter: is an object; expected an OpenTelemetry Meter',
    );
    expect((await refusal({ logger: console.log })).argument).toBe('options.logger');
    const logger = getLogger();
    expect(resolveCacheOptions({ logger }).logger).toBe(logger);
  });
});

describe('docs/cache.md', () => {
  it('lists every option of the schema, and a plain numeric default as the schema gives it', () => {
    const docs = readFileSync(join(import.meta.dirname, '../../docs/cache.md'), 'utf8');
    for (const [name, field] of Object.entries(cacheOptionsSchema.shape)) {
      const item = new RegExp(`^- \`${name}\` \\(default ([^)]*)\\)`, 'm').exec(docs);
      expect(item, `docs/cache.md item for ${name}`).not.toBeNull();
      const shown = item?.[1] ?? '';
      if (/^\d+$/.test(shown)) expect(Number(shown), `${name}'s default`).toBe(defaultOf(field));
    }
  });
});
