/**
 * Values as text: the default JSON serializer that refuses what JSON cannot round-trip, the size
 * check of every serialized value, the decoding and deep freeze of the values the cache hands out,
 * and the stable serialisation of `cached` arguments.
 */
import { describeValue, InvalidArgumentError } from '../shared/errors.ts';

/**
 * Turns values into text and back. The text is what Redis stores and what L1 sizes count, so
 * `deserialize(serialize(v))` must give back an equal value; refuse (throw) what cannot.
 */
export interface CacheSerializer {
  /** Short name, for error messages. */
  readonly name: string;
  /** The value as text. Throws for a value it cannot round-trip. */
  serialize(value: unknown): string;
  /** The value back from text made by `serialize`. */
  deserialize(text: string): unknown;
}

/** Deepest nesting the JSON serializer accepts (arrays and objects). */
export const MAX_VALUE_DEPTH = 256;

const EXPECTED_JSON =
  'a JSON value (string, finite number, boolean, null, arrays and plain objects of those); ' +
  'convert other types first (for example a Date with toISOString()) or pass a serializer that keeps them';

function pathText(path: readonly (string | number)[]): string {
  let text = '$';
  for (const part of path) {
    if (typeof part === 'number') text += `[${part}]`;
    else text += /^[A-Za-z_$][\w$]*$/.test(part) ? `.${part}` : `[${JSON.stringify(part)}]`;
  }
  return text;
}

function refuse(argument: string, path: readonly (string | number)[], what: string): never {
  throw new InvalidArgumentError(argument, `contains ${what} at ${pathText(path)}`, EXPECTED_JSON);
}

function describeObject(value: object): string {
  if (value instanceof Date) return 'a Date';
  if (value instanceof Map) return 'a Map';
  if (value instanceof Set) return 'a Set';
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name ? `an instance of ${name}` : 'an object that is not a plain object';
}

/**
 * Throws an {@link InvalidArgumentError} naming the first part of `value` (by its path, `$.a[2]`)
 * that `JSON.parse(JSON.stringify(value))` would not give back unchanged. `argument` names the
 * value in the error.
 */
export function assertJsonRoundTrip(value: unknown, argument = 'value'): void {
  const path: (string | number)[] = [];
  const ancestors = new Set<object>();
  const visit = (node: unknown, depth: number): void => {
    switch (typeof node) {
      case 'string':
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(node)) refuse(argument, path, String(node));
        return;
      case 'undefined':
        refuse(argument, path, 'undefined (or an empty array slot)');
        break;
      case 'bigint':
        refuse(argument, path, 'a BigInt');
        break;
      case 'symbol':
        refuse(argument, path, 'a symbol');
        break;
      case 'function':
        refuse(argument, path, 'a function');
        break;
    }
    if (node === null) return;
    const object = node as object;
    if (depth >= MAX_VALUE_DEPTH) refuse(argument, path, `nesting deeper than ${MAX_VALUE_DEPTH} levels`);
    if (ancestors.has(object)) refuse(argument, path, 'a circular reference');
    ancestors.add(object);
    if (Array.isArray(object)) {
      for (let i = 0; i < object.length; i++) {
        path.push(i);
        visit(object[i], depth + 1);
        path.pop();
      }
    } else {
      const proto = Object.getPrototypeOf(object);
      if (proto !== Object.prototype && proto !== null) refuse(argument, path, describeObject(object));
      if (Object.getOwnPropertySymbols(object).length > 0) refuse(argument, path, 'symbol-keyed properties');
      for (const key of Object.keys(object)) {
        path.push(key);
        visit((object as Record<string, unknown>)[key], depth + 1);
        path.pop();
      }
    }
    ancestors.delete(object);
  };
  visit(value, 0);
}

/**
 * The default serializer: `JSON.stringify` after {@link assertJsonRoundTrip}, so a value that
 * would come back different (a Date as a string, a Map as `{}`, `undefined` dropped) is refused
 * with an error naming where it is, instead of being cached corrupted.
 */
export const jsonSerializer: CacheSerializer = Object.freeze({
  name: 'json',
  serialize(value: unknown): string {
    assertJsonRoundTrip(value);
    return JSON.stringify(value);
  },
  deserialize(text: string): unknown {
    return JSON.parse(text);
  },
});

/**
 * `serializer.serialize(value)`, checked to be a string of at most `maxValueBytes` (UTF-8): the
 * text the cache stores and sizes.
 *
 * @throws {InvalidArgumentError} for a serializer that returned something else, or a text too large.
 */
export function serializeWithin(serializer: CacheSerializer, value: unknown, maxValueBytes: number): string {
  const text = serializer.serialize(value);
  if (typeof text !== 'string') {
    throw new InvalidArgumentError(
      'options.serializer',
      `serialize() returned ${describeValue(text)}`,
      'a serializer whose serialize() returns a string',
    );
  }
  const bytes = Buffer.byteLength(text);
  if (bytes > maxValueBytes) {
    throw new InvalidArgumentError(
      'value',
      `is ${bytes} bytes serialized, over maxValueBytes (${maxValueBytes})`,
      'a smaller value, or a larger maxValueBytes',
    );
  }
  return text;
}

/**
 * Freezes a value and everything reachable from it through own enumerable properties, so that a
 * value the cache hands out can be shared by every caller without one of them changing it for the
 * others. Already frozen objects are not entered (which also ends cycles), nor typed arrays (frozen
 * themselves only).
 */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  Object.freeze(value);
  // Primitives are skipped here rather than in a call each: most of a value's leaves are primitives.
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null) deepFreeze(item);
    }
  } else if (!ArrayBuffer.isView(value)) {
    const object = value as Record<string, unknown>;
    const keys = Object.keys(object);
    for (let i = 0; i < keys.length; i++) {
      const item = object[keys[i] as string];
      if (typeof item === 'object' && item !== null) deepFreeze(item);
    }
  }
  return value;
}

/**
 * {@link deepFreeze} for what `JSON.parse` just returned: plain objects and arrays, none frozen,
 * shared or part of a cycle, so nothing needs checking on the way; and `for...in` reads each
 * object's keys from the engine's cache of its shape (no array of keys per object, no lookup by
 * name). This matters on every Redis read: for an array of 100 small objects, freezing costs a third
 * of `JSON.parse`'s instructions this way, more than half with {@link deepFreeze}. `for...in` would
 * also visit enumerable keys inherited from `Object.prototype`; {@link decodeValue} takes this path
 * only when there are none.
 */
function freezeParsed(value: object): void {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item === 'object' && item !== null) freezeParsed(item);
    }
  } else {
    const object = value as Record<string, unknown>;
    for (const key in object) {
      const item = object[key];
      if (typeof item === 'object' && item !== null) freezeParsed(item);
    }
  }
  Object.freeze(value);
}

/** Whether `Object.prototype` has enumerable properties (someone added one), which `for...in` would visit. */
function prototypeEnumerable(): boolean {
  for (const _key in {}) return true;
  return false;
}

/**
 * `serializer.deserialize(text)`, deep-frozen when `freeze` is true: the value the cache hands out.
 * The default serializer's values are frozen by {@link freezeParsed}, others by {@link deepFreeze}.
 */
export function decodeValue(serializer: CacheSerializer, text: string, freeze: boolean): unknown {
  const value = serializer.deserialize(text);
  if (!freeze || value === null || typeof value !== 'object') return value;
  if (serializer === jsonSerializer && !prototypeEnumerable()) freezeParsed(value);
  else deepFreeze(value);
  return value;
}

/**
 * JSON with object keys sorted at every level, so that equal arguments always give the same text
 * (`{a:1,b:2}` and `{b:2,a:1}` alike). Refuses what JSON cannot round-trip, as the serializer does.
 */
export function stableStringify(value: unknown, argument = 'value'): string {
  assertJsonRoundTrip(value, argument);
  return JSON.stringify(value, (_key, node: unknown) => {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return node;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(node).sort()) sorted[key] = (node as Record<string, unknown>)[key];
    return sorted;
  });
}
