/**
 * OTLP/JSON to protobufjs messages. The OTLP JSON mapping is proto3's with two differences that
 * protobufjs cannot know about: trace and span ids are hex (protobufjs would read any string in a
 * `bytes` field as base64), and enums are integers. So the parsed JSON is walked once against the
 * message types, which checks every known field's JSON form (with the path of the first bad one in
 * the error) and turns hex ids into bytes; `Type.fromObject` then builds the same message objects
 * protobuf decoding gives, which the forwarder re-encodes with the same type. Unknown fields are
 * ignored, as the mapping requires.
 *
 * This runs per request, over the whole body: hand-written checks, not a schema, for speed.
 */
import type { Enum, Field, Type } from 'protobufjs';
import { describeValue } from '../shared/errors.ts';

/** A JSON body that is not an OTLP request of the expected type; the message names where and why. */
export class JsonShapeError extends Error {
  constructor(path: string, problem: string, expected: string) {
    super(`${path || 'the body'}: ${problem}; expected ${expected}`);
    this.name = 'JsonShapeError';
  }
}

/**
 * Message nesting accepted, counted as protobufjs counts it (the request is level 0, each message
 * field one level more; AnyValue arrays and kvlists nest): its recursion limit, the same for
 * protobuf decoding, `fromObject` and encoding (as protoc's). So the same content is accepted or
 * refused alike as JSON and as protobuf, and whatever is accepted can be encoded again to forward.
 */
export const MAX_JSON_DEPTH = 100;

/**
 * What is wrong, thrown from where it was found; each level it passes through on its way out adds
 * its part of the path. The path is built only when there is an error to report: a valid body,
 * the common case, costs no string per field.
 */
class ShapeProblem {
  /** Path parts, innermost first: field names and array indexes. */
  readonly parts: (string | number)[] = [];
  readonly problem: string;
  readonly expected: string;

  constructor(problem: string, expected: string) {
    this.problem = problem;
    this.expected = expected;
  }
}

/** Longest path shown in an error, characters: a deeply nested value would name a hundred levels. */
const MAX_PATH_LENGTH = 240;

/**
 * `parts` (innermost first) as a path: `resourceSpans[0].scopeSpans[0].spans[0].name`; a longer one
 * than {@link MAX_PATH_LENGTH} keeps its start and its end.
 */
function pathOf(parts: readonly (string | number)[]): string {
  let path = '';
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] as string | number;
    path += typeof part === 'number' ? `[${part}]` : path === '' ? part : `.${part}`;
  }
  if (path.length <= MAX_PATH_LENGTH) return path;
  const half = MAX_PATH_LENGTH / 2;
  return `${path.slice(0, half)}…${path.slice(-half)}`;
}

/** `bytes` fields written in hex by OTLP/JSON (spans, links, exemplars); other bytes are base64. */
const HEX_ID_FIELDS = new Set(['traceId', 'spanId', 'parentSpanId']);
const HEX = /^(?:[0-9a-fA-F]{2})*$/;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const UNSIGNED = /^\d{1,20}$/;
const SIGNED = /^-?\d{1,20}$/;
const FLOAT = /^(?:NaN|-?Infinity|-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)$/;

const INT32 = new Set(['int32', 'sint32', 'sfixed32']);
const UINT32 = new Set(['uint32', 'fixed32']);
const INT64 = new Set(['int64', 'sint64', 'sfixed64']);
const UINT64 = new Set(['uint64', 'fixed64']);

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function fail(value: unknown, expected: string): never {
  throw new ShapeProblem(`is ${describeValue(value)}`, expected);
}

/** One scalar, checked in its JSON form; returns what `fromObject` should get. */
function scalar(field: Field, value: unknown): unknown {
  const type = field.type;
  if (type === 'string') return typeof value === 'string' ? value : fail(value, 'a string');
  if (type === 'bool') return typeof value === 'boolean' ? value : fail(value, 'true or false');
  if (type === 'double' || type === 'float') {
    if (typeof value === 'number' || (typeof value === 'string' && FLOAT.test(value))) return value;
    return fail(value, 'a number');
  }
  if (type === 'bytes') {
    if (typeof value !== 'string') return fail(value, 'a string');
    if (HEX_ID_FIELDS.has(field.name)) {
      if (!HEX.test(value)) return fail(value, 'hex digits (OTLP/JSON writes ids in hex, not base64)');
      return Buffer.from(value, 'hex');
    }
    return BASE64.test(value) ? value : fail(value, 'base64');
  }
  const unsigned = UINT32.has(type) || UINT64.has(type);
  if (INT32.has(type) || INT64.has(type) || unsigned) {
    const ok =
      typeof value === 'number'
        ? Number.isInteger(value) && (!unsigned || value >= 0)
        : typeof value === 'string' && (unsigned ? UNSIGNED : SIGNED).test(value);
    if (ok) return value;
    return fail(
      value,
      unsigned ? 'a non-negative integer (number or string)' : 'an integer (number or string)',
    );
  }
  return value;
}

function enumValue(type: Enum, value: unknown): unknown {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && Object.hasOwn(type.values, value)) return value;
  return fail(value, `an integer (${type.name})`);
}

function fieldValue(field: Field, value: unknown, depth: number): unknown {
  const resolved = field.resolvedType;
  if (resolved === null) return scalar(field, value);
  if ('fieldsArray' in resolved) {
    walk(resolved as Type, value, depth + 1);
    return value;
  }
  return enumValue(resolved as Enum, value);
}

/** Checks `value` as a `type` message in place: ids become bytes, bad fields throw. */
function walk(type: Type, value: unknown, depth: number): void {
  if (depth > MAX_JSON_DEPTH) {
    throw new ShapeProblem(`nests more than ${MAX_JSON_DEPTH} messages deep`, 'shallower values');
  }
  if (!isObject(value)) fail(value, `an object (${type.name})`);
  for (const field of type.fieldsArray) {
    if (!Object.hasOwn(value, field.name)) continue;
    const v = value[field.name];
    // proto3 JSON: null is the field's default, as if absent.
    if (v === null || v === undefined) continue;
    if (field.map) continue; // OTLP has no map fields; fromObject checks any that appear.
    let index = -1;
    try {
      if (field.repeated) {
        if (!Array.isArray(v)) fail(v, 'an array');
        for (index = 0; index < v.length; index++) {
          const element: unknown = v[index];
          if (element === null || element === undefined) fail(element, 'a value');
          v[index] = fieldValue(field, element, depth);
        }
      } else {
        value[field.name] = fieldValue(field, v, depth);
      }
    } catch (error) {
      if (error instanceof ShapeProblem) {
        if (index >= 0) error.parts.push(index);
        error.parts.push(field.name);
      }
      throw error;
    }
  }
}

/**
 * The `type` message an OTLP/JSON document (already parsed) stands for.
 *
 * @param json the parsed body; walked and changed in place (hex ids become bytes).
 * @throws {JsonShapeError} naming the first field whose JSON form is wrong.
 */
export function messageFromJson(type: Type, json: unknown): object {
  try {
    walk(type, json, 0);
  } catch (error) {
    if (error instanceof ShapeProblem)
      throw new JsonShapeError(pathOf(error.parts), error.problem, error.expected);
    throw error;
  }
  return type.fromObject(json as Record<string, unknown>);
}
