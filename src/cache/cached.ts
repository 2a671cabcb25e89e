/**
 * `cached`: wraps an async function (or, as a TypeScript standard decorator, a method) so that its
 * results go through `getOrSet`. The key is the function's name and a stable serialisation of its
 * arguments unless one is given.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { describeValue, InvalidArgumentError } from '../shared/errors.ts';
import { accepts, parseOptions, withMethods } from '../shared/options.ts';
import type { Cache } from './cache.ts';
import { getCache } from './module.ts';
import { stableStringify } from './serializer.ts';

/**
 * The fields of {@link CachedOptions}, a constant of their own so that the declaration files keep
 * each field's comment. TTL, grace and tags are checked on each call against the cache's bounds
 * (the cache is only known then); here, their shape.
 */
const cachedOptionFields = {
  /** TTL of each result, seconds. Default: the cache's `defaultTtlSeconds`. */
  ttlSeconds: accepts(z.number(), 'a number of seconds').optional(),
  /** Grace period of each result, seconds. Default: the cache's `graceSeconds`. */
  graceSeconds: accepts(z.number(), 'a number of seconds').optional(),
  /** Tags of each result, or a function of the call's arguments that returns them. */
  tags: accepts(
    z.union([
      z.array(z.string()).readonly(),
      z.custom<(...args: never[]) => readonly string[]>((v) => typeof v === 'function'),
    ]),
    'an array of tags or a function of the arguments',
  ).optional(),
  /**
   * The key, or a function of the call's arguments that returns it. Default:
   * `<name>:<arguments as JSON with sorted object keys>`, where the name is the function's name, or
   * `Class.method` for a decorated method; argument text longer than 200 characters is replaced by
   * its SHA-256. The instance (`this`) is never part of the default key.
   */
  key: accepts(
    z.union([z.string().min(1), z.custom<(...args: never[]) => string>((v) => typeof v === 'function')]),
    'a non-empty string or a function of the arguments',
  ).optional(),
  /** Cache to use. Default: `getCache()` at call time (so decorators may run before it exists). */
  cache: withMethods<Cache>(['getOrSet'], 'a cache from createCache()').optional(),
};
const cachedOptionsSchema: z.ZodObject<typeof cachedOptionFields, z.core.$strict> =
  z.strictObject(cachedOptionFields);

/** Options of {@link cached}. */
export type CachedOptions = z.input<typeof cachedOptionsSchema>;

/** Any async function; `cached` keeps its exact type. */
// biome-ignore lint/suspicious/noExplicitAny: a generic function wrapper must accept every signature
type AnyAsyncFunction = (this: any, ...args: any[]) => Promise<any>;

/** What {@link cached} returns: a function wrapper that is also a standard method decorator. */
export interface CachedWrapper {
  /** Wraps an async function: each call goes through `getOrSet`. */
  <F extends AnyAsyncFunction>(fn: F): F;
  /** TypeScript standard (TC39) method decorator form. */
  <F extends AnyAsyncFunction>(fn: F, context: ClassMethodDecoratorContext): F;
}

/** Argument text longer than this is hashed, so keys stay short and bounded. */
const MAX_ARGUMENT_TEXT = 200;

function defaultKey(name: string, args: readonly unknown[]): string {
  const text = stableStringify(args, 'arguments');
  if (text.length <= MAX_ARGUMENT_TEXT) return `${name}:${text}`;
  return `${name}:#${createHash('sha256').update(text).digest('base64url')}`;
}

/**
 * Wraps an async function so that calls with equal arguments share one cached result. Also a
 * TypeScript standard decorator for async methods.
 *
 * @param options see {@link CachedOptions}; TTL and tags are checked on each call against the cache's bounds.
 * @throws {InvalidArgumentError} at wrap time for bad options or an anonymous function without `key`;
 *   at call time for arguments JSON cannot represent (with no `key` function) and as `getOrSet` does.
 * @example
 * const loadUser = cached({ ttlSeconds: 60, tags: (id: number) => [`user:${id}`] })(
 *   async function loadUser(id: number) { return db.users.find(id); },
 * );
 *
 * class Reports {
 *   \@cached({ ttlSeconds: 300 })
 *   async monthly(month: string) { ... }
 * }
 */
export function cached(options: CachedOptions = {}): CachedWrapper {
  const o = parseOptions(cachedOptionsSchema, options, { what: 'an option of cached' });
  const { key, tags, ttlSeconds, graceSeconds } = o;
  const wrap = <F extends AnyAsyncFunction>(fn: F, context?: ClassMethodDecoratorContext): F => {
    if (typeof fn !== 'function') {
      throw new InvalidArgumentError('fn', `is ${describeValue(fn)}`, 'an async function or method to wrap');
    }
    const method = context ? String(context.name) : undefined;
    if (key === undefined && !method && !fn.name) {
      throw new InvalidArgumentError('fn', 'is an anonymous function', 'a named function, or options.key');
    }
    const isStatic = context?.static === true;
    const wrapped = async function (this: unknown, ...args: unknown[]) {
      const cache = o.cache ?? getCache();
      let name = fn.name;
      if (method !== undefined) {
        // Methods of different classes may share a name: the class is part of the key.
        const owner = isStatic
          ? (this as { name?: string }).name
          : (this as object | undefined)?.constructor?.name;
        name = `${owner ?? 'anonymous'}.${method}`;
      }
      const cacheKey =
        typeof key === 'function'
          ? (key as (...a: unknown[]) => string)(...args)
          : (key ?? defaultKey(name, args));
      const callTags =
        typeof tags === 'function' ? (tags as (...a: unknown[]) => readonly string[])(...args) : tags;
      return cache.getOrSet(cacheKey, () => fn.apply(this, args), {
        ttlSeconds,
        graceSeconds,
        tags: callTags,
      });
    };
    Object.defineProperty(wrapped, 'name', { value: fn.name, configurable: true });
    return wrapped as F;
  };
  return wrap as CachedWrapper;
}
