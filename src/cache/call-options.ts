/**
 * Per-call arguments: keys, the options of `set` and `getOrSet`, and tag lists.
 *
 * These checks are written by hand on purpose, not as zod schemas like the cache's options: they
 * run on every call, and the key check runs on the L1 hit path, which goes at lru-cache speed (tens
 * of millions of gets per second). A schema parse there would cost more than the lookup itself.
 */
import { describeValue, InvalidArgumentError } from '../shared/errors.ts';
import type { ResolvedCacheOptions } from './options.ts';

/** Options of `set`. */
export interface SetOptions {
  /** Time to live, seconds (fractions allowed; Redis keeps ms). Default: the cache's `defaultTtlSeconds`. */
  readonly ttlSeconds?: number;
  /** Tags for `deleteByTags`; at most `maxTagsPerEntry`, each 1 to `maxTagLength` printable characters. */
  readonly tags?: readonly string[];
  /** Grace period of this entry, seconds (see the cache's `graceSeconds` option). */
  readonly graceSeconds?: number;
}

/** Options of `getOrSet`. */
export interface GetOrSetOptions extends SetOptions {
  /** TTL of an absent result (`undefined` or `null`), seconds; 0: not cached. Default: the cache's `absentTtlSeconds`. */
  readonly absentTtlSeconds?: number;
  /**
   * Longest wait for another process holding this key's Redis lock, ms; 0: no distributed lock for
   * this call. Default: the cache's `lockTimeoutMs`.
   */
  readonly lockTimeoutMs?: number;
  /**
   * Fraction of the TTL past which a hit starts a background refresh (greater than 0, below 1); 0:
   * no eager refresh for this call. Default: the cache's `eagerRefresh`.
   */
  readonly eagerRefresh?: number;
}

/** Per-call options after checks: times in ms, tags deduplicated. */
export interface ResolvedCallOptions {
  /** Time to live, ms. */
  readonly ttlMs: number;
  /** TTL of an absent factory result, ms; 0: not cached. */
  readonly absentTtlMs: number;
  /** Grace period, ms. */
  readonly graceMs: number;
  /** Tags, without duplicates. */
  readonly tags: readonly string[];
  /** Longest wait for another process's lock on the key, ms; absent or 0: no distributed lock. */
  readonly lockTimeoutMs?: number;
  /** Fraction of the TTL past which a hit refreshes in the background; absent or 0: off. */
  readonly eagerRefresh?: number;
}

/** The bounds a tag list is checked against. */
type TagBounds = Pick<ResolvedCacheOptions, 'maxTagsPerEntry' | 'maxTagLength'>;

/** The empty tag list, shared so that untagged calls allocate none. */
export const NO_TAGS: readonly string[] = Object.freeze([]);
// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Checks a key: a non-empty string of at most `maxKeyLength` characters. */
export function checkKey(key: unknown, maxKeyLength: number): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > maxKeyLength) {
    throw new InvalidArgumentError(
      'key',
      typeof key === 'string' && key.length > maxKeyLength
        ? `is ${key.length} characters long, over maxKeyLength ${maxKeyLength}`
        : `is ${describeValue(key)}`,
      `a non-empty string of at most ${maxKeyLength} characters`,
    );
  }
}

/** Checks a tag list (`argument` names it in errors) and returns it without duplicates. */
export function checkTags(tags: unknown, argument: string, bounds: TagBounds): readonly string[] {
  if (tags === undefined) return NO_TAGS;
  if (!Array.isArray(tags)) {
    throw new InvalidArgumentError(argument, `is ${describeValue(tags)}`, 'an array of tag strings');
  }
  if (tags.length > bounds.maxTagsPerEntry) {
    throw new InvalidArgumentError(
      argument,
      `has ${tags.length} tags`,
      `at most maxTagsPerEntry (${bounds.maxTagsPerEntry})`,
    );
  }
  for (let i = 0; i < tags.length; i++) {
    const tag: unknown = tags[i];
    if (
      typeof tag !== 'string' ||
      tag.length === 0 ||
      tag.length > bounds.maxTagLength ||
      CONTROL.test(tag)
    ) {
      throw new InvalidArgumentError(
        `${argument}[${i}]`,
        `is ${describeValue(tag)}`,
        `a string of 1 to ${bounds.maxTagLength} printable characters`,
      );
    }
  }
  return tags.length === 0 ? NO_TAGS : [...new Set(tags as string[])];
}

/** Checks a duration in seconds (`allowZero`: 0 accepted) and returns it in whole ms (at least 1 when not 0). */
function secondsToMs(value: unknown, argument: string, allowZero: boolean, maxMs: number): number {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    (value === 0 && !allowZero) ||
    value * 1000 > maxMs
  ) {
    throw new InvalidArgumentError(
      argument,
      `is ${describeValue(value)}`,
      `a finite number of seconds ${allowZero ? 'from 0' : 'greater than 0'}, at most maxTtlSeconds (${maxMs / 1000})`,
    );
  }
  return value === 0 ? 0 : Math.max(1, Math.round(value * 1000));
}

/** Checks `set`/`getOrSet` options and resolves them against the cache's defaults. */
export function resolveCallOptions(
  options: GetOrSetOptions | undefined,
  resolved: ResolvedCacheOptions,
): ResolvedCallOptions {
  if (options === undefined) {
    return {
      ttlMs: resolved.defaultTtlMs,
      absentTtlMs: resolved.absentTtlMs,
      graceMs: resolved.graceMs,
      tags: NO_TAGS,
      lockTimeoutMs: resolved.lockTimeoutMs ?? 0,
      eagerRefresh: resolved.eagerRefresh ?? 0,
    };
  }
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', `is ${describeValue(options)}`, 'an object or undefined');
  }
  const ttlMs =
    options.ttlSeconds === undefined
      ? resolved.defaultTtlMs
      : secondsToMs(options.ttlSeconds, 'options.ttlSeconds', false, resolved.maxTtlMs);
  const graceMs =
    options.graceSeconds === undefined
      ? resolved.graceMs
      : secondsToMs(options.graceSeconds, 'options.graceSeconds', true, resolved.maxTtlMs);
  const absentTtlMs =
    options.absentTtlSeconds === undefined
      ? resolved.absentTtlMs
      : secondsToMs(options.absentTtlSeconds, 'options.absentTtlSeconds', true, resolved.maxTtlMs);
  const lockTimeoutMs =
    options.lockTimeoutMs === undefined
      ? (resolved.lockTimeoutMs ?? 0)
      : checkLockTimeout(options.lockTimeoutMs);
  const eagerRefresh =
    options.eagerRefresh === undefined
      ? (resolved.eagerRefresh ?? 0)
      : checkEagerRefresh(options.eagerRefresh);
  return {
    ttlMs,
    absentTtlMs,
    graceMs,
    tags: checkTags(options.tags, 'options.tags', resolved),
    lockTimeoutMs,
    eagerRefresh,
  };
}

/** Most a per-call `lockTimeoutMs` may be, ms (the cache option's bound). */
const MAX_LOCK_TIMEOUT_MS = 3_600_000;

/** Checks a per-call `lockTimeoutMs`: a whole number of ms from 0 (off) to an hour. */
function checkLockTimeout(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_LOCK_TIMEOUT_MS) {
    throw new InvalidArgumentError(
      'options.lockTimeoutMs',
      `is ${describeValue(value)}`,
      `an integer number of milliseconds from 0 (off) to ${MAX_LOCK_TIMEOUT_MS}`,
    );
  }
  return value;
}

/** Checks a per-call `eagerRefresh`: 0 (off), or a fraction greater than 0 and below 1. */
function checkEagerRefresh(value: unknown): number {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
    throw new InvalidArgumentError(
      'options.eagerRefresh',
      `is ${describeValue(value)}`,
      '0 (off) or a number greater than 0 and below 1',
    );
  }
  return value;
}
