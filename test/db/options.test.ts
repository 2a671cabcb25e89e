/**
 * The option schemas of the database service and of the embedded PostgreSQL: defaults (today's
 * environment defaults), every bound, unknown keys, the cross-field check, the alert sink, and a
 * URL that is never echoed. Pure: nothing connects.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config.ts';
import {
  databaseOptionFields,
  databaseOptionsSchema,
  embeddedPostgresOptionsSchema,
  resolveDatabaseSettings,
  resolveEmbeddedSettings,
} from '../../src/db/options.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { defaultOf, expectedOf } from '../../src/shared/options.ts';
import { DB_VARIABLES } from '../helpers/db.ts';

function problemOf(options: unknown): InvalidArgumentError {
  try {
    resolveDatabaseSettings(options);
  } catch (error) {
    if (error instanceof InvalidArgumentError) return error;
    throw error;
  }
  throw new Error(`resolved without an error: ${JSON.stringify(options)}`);
}

/** Each numeric option: its bounds, whether whole numbers only, whether the lower bound is excluded. */
const BOUNDS: readonly [string, number, number, 'integer' | 'decimal', 'closed' | 'open'][] = [
  ['poolSize', 1, 1000, 'integer', 'closed'],
  ['maxOverflow', 0, 1000, 'integer', 'closed'],
  ['poolTimeoutSeconds', 0, 3600, 'decimal', 'open'],
  ['poolRecycleSeconds', 1, 604_800, 'integer', 'closed'],
  ['prePingIdleSeconds', 0, 86_400, 'integer', 'closed'],
  ['overflowIdleSeconds', 0, 86_400, 'decimal', 'open'],
  ['slowQuerySeconds', 0, 86_400, 'decimal', 'open'],
  ['explainIntervalSeconds', 1, 86_400, 'decimal', 'closed'],
  ['explainMaxStatements', 1, 100_000, 'integer', 'closed'],
  ['explainTimeoutMs', 10, 60_000, 'integer', 'closed'],
  ['maxPlanLength', 256, 1_000_000, 'integer', 'closed'],
  ['defaultLimit', 1, 100_000, 'integer', 'closed'],
  ['maxLimit', 1, 100_000, 'integer', 'closed'],
  ['maxOffset', 0, 10_000_000, 'integer', 'closed'],
  ['maxBatchSize', 1, 100_000, 'integer', 'closed'],
  ['maxCachedTables', 1, 100_000, 'integer', 'closed'],
  ['catalogueTtlSeconds', 0, 86_400, 'decimal', 'closed'],
  ['maxStatementLength', 64, 1_000_000, 'integer', 'closed'],
  ['closeTimeoutSeconds', 0, 3600, 'decimal', 'open'],
  ['healthTimeoutSeconds', 0, 300, 'decimal', 'open'],
  ['statementTimeoutSeconds', 0, 86_400, 'decimal', 'open'],
];

describe('database options', () => {
  it("default to today's environment defaults", () => {
    const settings = resolveDatabaseSettings({});
    // The variables' defaults, for the options the configuration also sets.
    const environment = Object.entries(loadConfig({}).db).filter(([, value]) => value !== undefined);
    expect(environment.length).toBeGreaterThan(6);
    expect(settings).toMatchObject(Object.fromEntries(environment));
    expect(settings).toMatchObject({
      poolSize: 20,
      maxOverflow: 30,
      poolTimeoutSeconds: 30,
      slowQuerySeconds: 2,
    });
    expect(settings).toMatchObject({
      overflowIdleSeconds: 10,
      explainIntervalSeconds: 60,
      explainMaxStatements: 1000,
      explainTimeoutMs: 2000,
      maxPlanLength: 16_384,
      defaultLimit: 100,
      maxLimit: 1000,
      maxOffset: 100_000,
      maxBatchSize: 1000,
      maxCachedTables: 256,
      catalogueTtlSeconds: 300,
      maxStatementLength: 2048,
      closeTimeoutSeconds: 10,
      healthTimeoutSeconds: 5,
      pipeline: true,
      applicationName: 'perf-sidecar',
      serviceName: 'unknown_service:node',
      // The pool's max plus one for the health check's own connection.
      embedded: { port: 0, startTimeoutMs: 60_000, maxConnections: 51 },
    });
    for (const absent of ['url', 'alerts', 'statementTimeoutSeconds', 'allowedSchemas', 'allowedTables']) {
      expect(settings).not.toHaveProperty(absent);
    }
    expect(Object.isFrozen(settings)).toBe(true);
    expect(defaultOf(databaseOptionsSchema.shape.poolSize)).toBe(20);
  });

  it('accept every bound and refuse what lies just outside it, naming the accepted form', () => {
    for (const [name, min, max, kind, lower] of BOUNDS) {
      const accepted = lower === 'open' ? [min + 0.001, max] : [min, max];
      for (const value of accepted) {
        // maxLimit bounds defaultLimit: raise it with the value so that only the bound under test applies.
        const extra = name === 'defaultLimit' ? { maxLimit: 100_000 } : {};
        expect(resolveDatabaseSettings({ ...extra, [name]: value })).toHaveProperty(name, value);
      }
      const refused = [lower === 'open' ? min : min - 1, max + 1, Number.NaN, Number.POSITIVE_INFINITY, '5'];
      if (kind === 'integer') refused.push(min + 0.5);
      const expected = expectedOf(
        databaseOptionsSchema.shape[name as keyof typeof databaseOptionsSchema.shape],
      );
      expect(expected, name).toBeDefined();
      for (const value of refused) {
        const error = problemOf({ [name]: value });
        expect(error.argument).toBe(`options.${name}`);
        expect(error.message).toMatch(new RegExp(`^options\\.${name}: is .+; expected `));
        expect(error.message.endsWith(`expected ${expected}`), `${name} = ${String(value)}`).toBe(true);
      }
    }
  });

  it('give the fields the configuration reads the bounds of their DB_* variables', () => {
    const shape: Record<string, z.ZodType> = databaseOptionsSchema.shape;
    const numbers = Object.entries(DB_VARIABLES).filter(
      ([field]) => typeof defaultOf(shape[field] ?? z.never()) === 'number',
    );
    // Pool size, overflow, timeout, recycle, pre-ping, slow query.
    expect(numbers).toHaveLength(6);
    for (const [field, variable] of numbers) {
      const documented = CONFIG_VARIABLES.find((v) => v.name === variable);
      const form = expectedOf(shape[field] ?? z.never());
      expect(form && documented?.expected.startsWith(form), `${field} / ${variable}`).toBe(true);
      expect(defaultOf(shape[field] ?? z.never())).toBe(Number(documented?.default));
    }
    for (const field of Object.keys(DB_VARIABLES)) expect(shape).toHaveProperty(field);
  });

  it('keep defaultLimit within maxLimit, and follow a smaller maxLimit when it is not given', () => {
    expect(problemOf({ defaultLimit: 500, maxLimit: 100 }).message).toBe(
      'options.defaultLimit: is 500; expected an integer from 1 to 100 (maxLimit)',
    );
    expect(resolveDatabaseSettings({ maxLimit: 50 }).defaultLimit).toBe(50);
    expect(resolveDatabaseSettings({ defaultLimit: 100, maxLimit: 100 }).defaultLimit).toBe(100);
  });

  it('refuse unknown keys, listing the known ones, and anything but an object', () => {
    const error = problemOf({ poolsize: 5 });
    expect(error.argument).toBe('options.poolsize');
    expect(error.message).toMatch(
      /^options\.poolsize: is not a database option; expected one of alerts, allowedSchemas, /,
    );
    expect(error.message).toContain(' poolSize, ');
    // `config` is no longer an option: createDatabase reads no configuration.
    expect(problemOf({ config: {} }).message).toMatch(/^options\.config: is not a database option/);
    expect(problemOf(null).message).toBe('options: is null; expected an object or undefined');
    expect(problemOf([]).message).toBe('options: is an array of 0; expected an object or undefined');
  });

  it('check the flags, names and allow-lists', () => {
    expect(problemOf({ explainSlow: 'yes' }).message).toBe(
      'options.explainSlow: is "yes"; expected true or false',
    );
    expect(problemOf({ pipeline: 1 }).message).toBe('options.pipeline: is 1; expected true or false');
    expect(problemOf({ applicationName: 'a\nb' }).message).toBe(
      'options.applicationName: is "a\\nb"; expected 1 to 63 printable ASCII characters',
    );
    expect(problemOf({ serviceName: '' }).message).toBe(
      'options.serviceName: is ""; expected 1 to 256 printable characters',
    );
    expect(problemOf({ allowedSchemas: [] }).message).toBe(
      'options.allowedSchemas: is an array of 0; expected an array of 1 to 1000 schema names',
    );
    expect(problemOf({ allowedSchemas: Array(1001).fill('a') }).message).toContain('is an array of 1001');
    expect(problemOf({ allowedSchemas: ['ok', 'a\u202eb'] }).message).toBe(
      'options.allowedSchemas[1]: "a\\u202eb" is not a plain schema name; expected 1 to 63 ASCII letters, digits or underscores, not starting with a digit',
    );
    expect(problemOf({ allowedTables: ['users'] }).message).toBe(
      'options.allowedTables[0]: "users" is not schema-qualified; expected a schema.table name',
    );
    expect(problemOf({ allowedTables: ['a.b.c'] }).message).toBe(
      'options.allowedTables[0]: "a.b.c" is not a plain table name; expected a schema.table name',
    );
    const lists = resolveDatabaseSettings({
      allowedSchemas: ['app'],
      allowedTables: ['pg_catalog.pg_settings'],
    });
    expect(lists).toMatchObject({ allowedSchemas: ['app'], allowedTables: ['pg_catalog.pg_settings'] });
    expect(Object.isFrozen(lists.allowedSchemas)).toBe(true);
  });

  it('take any object with emit() as the alert sink', () => {
    const sink = { emit: () => undefined };
    // Any name a resource can carry: a package.json name, OTEL_RESOURCE_ATTRIBUTES.
    expect(resolveDatabaseSettings({ serviceName: '@acme/api+v2' }).serviceName).toBe('@acme/api+v2');
    expect(problemOf({ serviceName: 'a\nb' }).message).toContain('expected 1 to 256 printable characters');
    expect(resolveDatabaseSettings({ alerts: sink, serviceName: 'orders' })).toMatchObject({
      alerts: sink,
      serviceName: 'orders',
    });
    expect(problemOf({ alerts: {} }).message).toBe(
      'options.alerts: is an object; expected an object with emit(input), such as getTelemetry().alerts',
    );
  });

  it('normalise the URL and never echo a bad one', () => {
    expect(resolveDatabaseSettings({ url: 'postgresql+asyncpg://app:pw@db:5433/x' }).url).toBe(
      'postgresql://app:pw@db:5433/x',
    );
    const form =
      'postgresql://user:password@host:5432/database (postgres://, postgresql+asyncpg:// accepted)';
    expect(problemOf({ url: 'mysql://root:hunter2@db/app' }).message).toBe(
      `options.url: the value has the unsupported scheme "mysql:"; expected ${form}`,
    );
    for (const url of ['hunter2 not a url', 'postgresql://:hunter2@/x', '']) {
      const error = problemOf({ url });
      expect(error.argument).toBe('options.url');
      expect(error.message).not.toContain('hunter2');
      expect(error.message.endsWith(`expected ${form}`)).toBe(true);
    }
    expect(problemOf({ url: 42 }).message).toBe(`options.url: is 42; expected ${form}`);
  });
});

describe('embedded PostgreSQL options', () => {
  it('default to a free port, a minute to start and the given connection limit', () => {
    expect(resolveEmbeddedSettings({}, 100)).toEqual({
      port: 0,
      startTimeoutMs: 60_000,
      maxConnections: 100,
    });
    expect(resolveDatabaseSettings({ poolSize: 2, maxOverflow: 3 }).embedded.maxConnections).toBe(6);
    expect(resolveDatabaseSettings({ embedded: { maxConnections: 9, dataDir: '/tmp/x' } }).embedded).toEqual({
      port: 0,
      startTimeoutMs: 60_000,
      maxConnections: 9,
      dataDir: '/tmp/x',
    });
    expect(Object.keys(embeddedPostgresOptionsSchema.shape).sort()).toEqual([
      'dataDir',
      'maxConnections',
      'port',
      'startTimeoutMs',
    ]);
  });

  it('refuse bad values under options.embedded, and unknown keys', () => {
    const cases: [unknown, string][] = [
      [{ port: 70_000 }, 'options.embedded.port: is 70000; expected an integer from 0 to 65535'],
      [{ port: -1 }, 'options.embedded.port: is -1; expected an integer from 0 to 65535'],
      [{ maxConnections: 0 }, 'options.embedded.maxConnections: is 0; expected an integer from 1 to 2000'],
      [
        { maxConnections: 2001 },
        'options.embedded.maxConnections: is 2001; expected an integer from 1 to 2000',
      ],
      [
        { startTimeoutMs: 999 },
        'options.embedded.startTimeoutMs: is 999; expected an integer number of ms from 1000 to 600000',
      ],
      [
        { startTimeoutMs: 600_001 },
        'options.embedded.startTimeoutMs: is 600001; expected an integer number of ms from 1000 to 600000',
      ],
      [{ dataDir: '' }, 'options.embedded.dataDir: is ""; expected a directory path'],
      [3, 'options.embedded: is 3; expected an object or undefined'],
    ];
    for (const [embedded, message] of cases) expect(problemOf({ embedded }).message).toBe(message);
    // The list of known keys is not checked here: `invalidArgument` (src/shared/options.ts) does not
    // look through the optional wrapper of a nested object yet, and lists none.
    expect(problemOf({ embedded: { portt: 1 } }).message).toMatch(
      /^options\.embedded\.portt: is not a database option; expected one of /,
    );
    expect(() => resolveEmbeddedSettings({ port: 1.5 }, 100)).toThrow(
      'options.port: is 1.5; expected an integer from 0 to 65535',
    );
  });
});

describe('docs/database.md', () => {
  it('names every option of the schema', () => {
    const docs = readFileSync(join(import.meta.dirname, '../../docs/database.md'), 'utf8');
    const missing = Object.keys(databaseOptionFields).filter((name) => !docs.includes(`\`${name}\``));
    expect(missing).toEqual([]);
  });
});
