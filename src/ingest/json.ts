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
 * Message nesting accepted (AnyValue arrays and kvlists nest): far more than real telemetry needs,
 * and below protobufjs's recursion limit (100), so that what is accepted can be encoded again.
 */
export const MAX_JSON_DEPTH = 64;

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

function fail(path: string, value: unknown, expected: string): never {
  throw new JsonShapeError(path, `is ${describeValue(value)}`, expected);
}

/** One scalar, checked in its JSON form; returns what `fromObject` should get. */
function scalar(field: Field, value: unknown, path: string): unknown {
  const type = field.type;
  if (type === 'string') return typeof value === 'string' ? value : fail(path, value, 'a string');
  if (type === 'bool') return typeof value === 'boolean' ? value : fail(path, value, 'true or false');
  if (type === 'double' || type === 'float') {
    if (typeof value === 'number' || (typeof value === 'string' && FLOAT.test(value))) return value;
    return fail(path, value, 'a number');
  }
  if (type === 'bytes') {
    if (typeof value !== 'string') return fail(path, value, 'a string');
    if (HEX_ID_FIELDS.has(field.name)) {
      if (!HEX.test(value)) return fail(path, value, 'hex digits (OTLP/JSON writes ids in hex, not base64)');
      return Buffer.from(value, 'hex');
    }
    return BASE64.test(value) ? value : fail(path, value, 'base64');
  }
  const unsigned = UINT32.has(type) || UINT64.has(type);
  if (INT32.has(type) || INT64.has(type) || unsigned) {
    const ok =
      typeof value === 'number'
        ? Number.isInteger(value) && (!unsigned || value >= 0)
        : typeof value === 'string' && (unsigned ? UNSIGNED : SIGNED).test(value);
    if (ok) return value;
    return fail(
      path,
      value,
      unsigned ? 'a non-negative integer (number or string)' : 'an integer (number or string)',
    );
  }
  return value;
}

function enumValue(type: Enum, value: unknown, path: string): unknown {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && Object.hasOwn(type.values, value)) return value;
  return fail(path, value, `an integer (${type.name})`);
}

function fieldValue(field: Field, value: unknown, path: string, depth: number): unknown {
  const resolved = field.resolvedType;
  if (resolved === null) return scalar(field, value, path);
  if ('fieldsArray' in resolved) {
    walk(resolved as Type, value, path, depth + 1);
    return value;
  }
  return enumValue(resolved as Enum, value, path);
}

/** Checks `value` as a `type` message in place: ids become bytes, bad fields throw. */
function walk(type: Type, value: unknown, path: string, depth: number): void {
  if (depth > MAX_JSON_DEPTH) {
    throw new JsonShapeError(path, `nests more than ${MAX_JSON_DEPTH} messages deep`, 'shallower values');
  }
  if (!isObject(value)) fail(path, value, `an object (${type.name})`);
  for (const field of type.fieldsArray) {
    if (!Object.hasOwn(value, field.name)) continue;
    const v = value[field.name];
    // proto3 JSON: null is the field's default, as if absent.
    if (v === null || v === undefined) continue;
    const at = path === '' ? field.name : `${path}.${field.name}`;
    if (field.map) continue; // OTLP has no map fields; fromObject checks any that appear.
    if (field.repeated) {
      if (!Array.isArray(v)) fail(at, v, 'an array');
      for (let i = 0; i < v.length; i++) {
        const element: unknown = v[i];
        if (element === null || element === undefined) fail(`${at}[${i}]`, element, 'a value');
        v[i] = fieldValue(field, element, `${at}[${i}]`, depth);
      }
    } else {
      value[field.name] = fieldValue(field, v, at, depth);
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
  walk(type, json, '', 0);
  return type.fromObject(json as Record<string, unknown>);
}
