/** The option-schema helpers: accepted forms, defaults, and the one mapping to InvalidArgumentError. */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import {
  accepts,
  callable,
  decimal,
  defaultOf,
  expectedOf,
  flag,
  integer,
  matching,
  oneOf,
  parseOptions,
  withMethods,
} from '../../src/shared/options.ts';

const schema = z.strictObject({
  maxItems: integer(1, 1000).default(10),
  ttlSeconds: decimal(0, 60, { unit: 'seconds', minExclusive: true }).optional(),
  name: matching(/^[a-z]{1,8}$/, '1 to 8 lower-case letters').default('main'),
  mode: oneOf(['fast', 'safe']).default('safe'),
  on: flag().default(true),
  url: accepts(z.string().regex(/^redis:\/\//), 'a redis:// URL', true).optional(),
  tags: z.array(matching(/^\w+$/, 'a word')).max(3).optional(),
  factory: callable<() => number>('a function').optional(),
  serializer: withMethods<{ serialize(): string }>(['serialize'], 'an object with serialize()').optional(),
});

function problemOf(value: unknown): InvalidArgumentError {
  try {
    parseOptions(schema, value, { what: 'a test option' });
  } catch (error) {
    if (error instanceof InvalidArgumentError) return error;
    throw error;
  }
  throw new Error('parsed without an error');
}

describe('option schemas', () => {
  it('fill defaults and keep given values', () => {
    expect(parseOptions(schema, {})).toEqual({ maxItems: 10, name: 'main', mode: 'safe', on: true });
    expect(parseOptions(schema, { maxItems: 5, ttlSeconds: 0.5 })).toMatchObject({
      maxItems: 5,
      ttlSeconds: 0.5,
    });
  });

  it('derive the accepted form and the default from the schema', () => {
    expect(expectedOf(schema.shape.maxItems)).toBe('an integer from 1 to 1000');
    expect(defaultOf(schema.shape.maxItems)).toBe(10);
    expect(expectedOf(schema.shape.ttlSeconds)).toBe('a number of seconds greater than 0, at most 60');
    expect(defaultOf(schema.shape.ttlSeconds)).toBeUndefined();
    expect(expectedOf(schema.shape.mode)).toBe('one of fast, safe');
    expect(expectedOf(integer(0, 5, 'ms'))).toBe('an integer number of ms from 0 to 5');
  });

  it('name the field, the bad value and the accepted form', () => {
    const error = problemOf({ maxItems: 0 });
    expect(error.code).toBe('PERF_INVALID_ARGUMENT');
    expect(error.argument).toBe('options.maxItems');
    expect(error.message).toBe('options.maxItems: is 0; expected an integer from 1 to 1000');
    expect(problemOf({ maxItems: 2.5 }).message).toContain('is 2.5; expected an integer from 1 to 1000');
    expect(problemOf({ maxItems: '7' }).message).toContain('is "7"; expected an integer');
    expect(problemOf({ ttlSeconds: 0 }).message).toContain('greater than 0');
    expect(problemOf({ name: 'UPPER' }).message).toBe(
      'options.name: is "UPPER"; expected 1 to 8 lower-case letters',
    );
    expect(problemOf({ on: 'yes' }).message).toBe('options.on: is "yes"; expected true or false');
    expect(problemOf({ factory: 1 }).message).toBe('options.factory: is 1; expected a function');
    expect(problemOf({ serializer: {} }).message).toBe(
      'options.serializer: is an object; expected an object with serialize()',
    );
  });

  it('point into arrays', () => {
    expect(problemOf({ tags: ['ok', 'not ok'] }).message).toBe(
      'options.tags[1]: is "not ok"; expected a word',
    );
  });

  it('refuse unknown keys, listing the known ones', () => {
    const error = problemOf({ maxItem: 3 });
    expect(error.argument).toBe('options.maxItem');
    expect(error.message).toMatch(
      /^options\.maxItem: is not a test option; expected one of factory, maxItems, mode, /,
    );
  });

  it('refuse a value that is not an object', () => {
    expect(problemOf(42).message).toBe('options: is 42; expected an object or undefined');
  });

  it('never echo a secret value', () => {
    const error = problemOf({ url: 'http://user:hunter2@host' });
    expect(error.message).not.toContain('hunter2');
    expect(error.message).toContain('value hidden');
  });

  it('take the problem and the form from a custom check', () => {
    const ranged = z
      .strictObject({ soft: integer(0, 100).optional(), hard: integer(1, 100).default(50) })
      .superRefine((o, ctx) => {
        if (o.soft !== undefined && o.soft >= o.hard) {
          ctx.addIssue({
            code: 'custom',
            path: ['soft'],
            message: 'soft must be below hard',
            params: { expected: `an integer from 0 to below hard (${o.hard})` },
          });
        }
      });
    expect(() => parseOptions(ranged, { soft: 60 })).toThrow(
      'options.soft: is 60; expected an integer from 0 to below hard (50)',
    );
  });
});

describe('unknown keys in a nested optional object', () => {
  it("list the nested object's keys", () => {
    const nested = z.strictObject({
      embedded: z.strictObject({ port: integer(0, 65_535).default(0) }).optional(),
    });
    expect(() => parseOptions(nested, { embedded: { portt: 1 } })).toThrow(
      'options.embedded.portt: is not a known option; expected one of port',
    );
  });
});
