/**
 * The checks of a batch call's arguments (`getMany`, `setMany`, `getOrSetMany`): an iterable of at
 * most `MAX_BATCH_KEYS` keys (or entries), each a key as a single call takes it.
 */
import { describeValue, InvalidArgumentError } from '../shared/errors.ts';
import { checkKey } from './call-options.ts';

/** Most keys (or entries) one batch call accepts. Larger batches are split by the caller. */
export const MAX_BATCH_KEYS = 1000;

const BATCH_EXPECTED = `an array (or other iterable) of at most ${MAX_BATCH_KEYS} keys (split larger batches)`;

/** Whether `value` can be iterated with `for...of` (and is not a string, whose characters are no keys). */
function isIterable(value: unknown): value is Iterable<unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === 'function'
  );
}

/** Checks a batch's keys (each as a single key is checked) and returns them without duplicates, in order. */
export function checkKeys(keys: unknown, maxKeyLength: number): string[] {
  if (!isIterable(keys)) throw new InvalidArgumentError('keys', `is ${describeValue(keys)}`, BATCH_EXPECTED);
  const list = new Set<string>();
  let i = 0;
  for (const key of keys) {
    if (i === MAX_BATCH_KEYS) {
      throw new InvalidArgumentError('keys', `has more than ${MAX_BATCH_KEYS} keys`, BATCH_EXPECTED);
    }
    checkBatchKey(key, `keys[${i}]`, maxKeyLength);
    list.add(key);
    i++;
  }
  return [...list];
}

/** Checks `setMany` entries (`[key, value]` pairs, or a Map) and returns them by key, the last value winning. */
export function checkEntries(entries: unknown, maxKeyLength: number): Map<string, unknown> {
  const expected = `a Map, or an iterable of [key, value] pairs, of at most ${MAX_BATCH_KEYS} entries (split larger batches)`;
  if (!isIterable(entries))
    throw new InvalidArgumentError('entries', `is ${describeValue(entries)}`, expected);
  const pairs = new Map<string, unknown>();
  let i = 0;
  for (const entry of entries) {
    if (i === MAX_BATCH_KEYS) {
      throw new InvalidArgumentError('entries', `has more than ${MAX_BATCH_KEYS} entries`, expected);
    }
    if (!Array.isArray(entry) || entry.length !== 2) {
      throw new InvalidArgumentError(`entries[${i}]`, `is ${describeValue(entry)}`, 'a [key, value] pair');
    }
    const [key, value] = entry as [unknown, unknown];
    checkBatchKey(key, `entries[${i}][0]`, maxKeyLength);
    pairs.delete(key);
    pairs.set(key, value);
    i++;
  }
  return pairs;
}

/** {@link checkKey}'s rule and wording, naming the key's place in the batch (`keys[3]`). */
function checkBatchKey(key: unknown, argument: string, maxKeyLength: number): asserts key is string {
  try {
    checkKey(key, maxKeyLength);
  } catch (error) {
    if (!(error instanceof InvalidArgumentError)) throw error;
    const rest = error.message.slice(error.argument.length + 2);
    const cut = rest.lastIndexOf('; expected ');
    throw new InvalidArgumentError(argument, rest.slice(0, cut), rest.slice(cut + '; expected '.length));
  }
}
