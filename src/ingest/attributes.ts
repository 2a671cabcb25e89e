/**
 * OTLP `KeyValue` lists as OpenTelemetry `Attributes`, for the span view: what target evaluation
 * reads. The view is bounded (attribute count, string length, array length) because evaluation may
 * keep what it reads; the decoded message keeps every original value, since forwarding sends it on.
 */

import type { Attributes, AttributeValue } from '@opentelemetry/api';
import { isServiceName } from '../shared/options.ts';
import { SCOPE_NAME } from '../shared/scope.ts';
import type { ProtoAnyValue, ProtoKeyValue } from './types.ts';

/** Attributes of one span read into its view; the rest stay in the message only. */
export const MAX_VIEW_ATTRIBUTES = 128;
/** Longest string (attribute value, array element, span name) in a view, characters; longer ones are cut. */
export const MAX_VIEW_STRING_LENGTH = 4096;
/** Elements of an array attribute read into a view; the rest stay in the message only. */
export const MAX_VIEW_ARRAY_LENGTH = 128;
/** Longest attribute key read into a view, characters; attributes with longer keys are left out. */
export const MAX_VIEW_KEY_LENGTH = 1024;
/** The service of spans whose resource carries no `service.name` (the OpenTelemetry SDKs' fallback). */
export const UNKNOWN_SERVICE = 'unknown_service';
/** The resource attribute naming the service. */
const SERVICE_NAME_KEY = 'service.name';
/** The resource attribute naming the OpenTelemetry distribution a service runs. */
const DISTRO_NAME_KEY = 'telemetry.distro.name';

/** `text` cut to {@link MAX_VIEW_STRING_LENGTH} characters. */
export function viewString(text: string): string {
  return text.length > MAX_VIEW_STRING_LENGTH ? text.slice(0, MAX_VIEW_STRING_LENGTH) : text;
}

/**
 * A protobufjs 64-bit field as a number: a `Long`, a number when it fits, or the decimal string
 * of a JSON body; `undefined` for anything else.
 */
export function integerOf(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string') return Number(value);
  if (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { toNumber?: unknown }).toNumber === 'function'
  ) {
    return (value as { toNumber(): number }).toNumber();
  }
  return undefined;
}

/**
 * Which field of the `AnyValue` oneof is set. Own properties only: protobufjs keeps every field's
 * default (`''`, `false`, zero) on the prototype, so a plain read cannot tell "set to false" from
 * "not set".
 */
function scalarOf(value: ProtoAnyValue | null | undefined): string | number | boolean | undefined {
  if (value === null || value === undefined) return undefined;
  if (Object.hasOwn(value, 'stringValue') && typeof value.stringValue === 'string') {
    return viewString(value.stringValue);
  }
  if (Object.hasOwn(value, 'boolValue') && typeof value.boolValue === 'boolean') return value.boolValue;
  if (Object.hasOwn(value, 'intValue') && value.intValue !== null) return integerOf(value.intValue);
  if (Object.hasOwn(value, 'doubleValue') && typeof value.doubleValue === 'number') return value.doubleValue;
  return undefined;
}

/** A homogeneous array of scalars, or `undefined` (mixed types, nested arrays, kvlists, bytes). */
function arrayOf(values: readonly ProtoAnyValue[]): AttributeValue | undefined {
  const n = Math.min(values.length, MAX_VIEW_ARRAY_LENGTH);
  const out: (string | number | boolean)[] = [];
  let kind: string | undefined;
  for (let i = 0; i < n; i++) {
    const element = scalarOf(values[i]);
    if (element === undefined) return undefined;
    if (kind === undefined) kind = typeof element;
    else if (typeof element !== kind) return undefined;
    out.push(element);
  }
  return out as AttributeValue;
}

/** One `AnyValue` as an attribute value, or `undefined` when the view has no form for it. */
export function attributeValueOf(value: ProtoAnyValue | null | undefined): AttributeValue | undefined {
  const scalar = scalarOf(value);
  if (scalar !== undefined || value === null || value === undefined) return scalar;
  if (Object.hasOwn(value, 'arrayValue') && value.arrayValue) return arrayOf(value.arrayValue.values ?? []);
  // kvlistValue and bytesValue have no Attributes form: left out of the view, kept in the message.
  return undefined;
}

/**
 * The view of a `KeyValue` list: the first {@link MAX_VIEW_ATTRIBUTES} entries, strings cut to
 * {@link MAX_VIEW_STRING_LENGTH} characters, kvlists and bytes left out. A later duplicate key wins.
 * The object has no prototype, so a key such as `__proto__` is an ordinary entry.
 */
export function attributesOf(list: readonly ProtoKeyValue[] | null | undefined): Attributes {
  const out: Attributes = Object.create(null);
  if (!list) return out;
  const n = Math.min(list.length, MAX_VIEW_ATTRIBUTES);
  for (let i = 0; i < n; i++) {
    const entry = list[i];
    if (!entry || typeof entry.key !== 'string' || entry.key.length > MAX_VIEW_KEY_LENGTH) continue;
    const value = attributeValueOf(entry.value);
    if (value !== undefined) out[entry.key] = value;
  }
  return out;
}

/** What {@link serviceOf} found on a resource. */
export type ServiceName =
  | { readonly ok: true; readonly service: string }
  | { readonly ok: false; readonly problem: string };

/**
 * The `service.name` of a resource: its string value, {@link UNKNOWN_SERVICE} when there is none
 * (or it is empty or not a string, as the SDKs treat it), or a problem when it is not 1 to 256
 * printable characters, the rule every part of perf-sidecar holds service names to (they become
 * metric labels and Redis keys).
 */
export function serviceOf(attributes: readonly ProtoKeyValue[] | null | undefined): ServiceName {
  if (attributes) {
    for (const entry of attributes) {
      if (entry?.key !== SERVICE_NAME_KEY) continue;
      const value = entry.value;
      if (!value || !Object.hasOwn(value, 'stringValue') || typeof value.stringValue !== 'string') break;
      const name: string = value.stringValue;
      if (name === '') break;
      const valid: boolean = isServiceName(name);
      if (valid) return { ok: true, service: name };
      const shown =
        name.length > 64
          ? `${JSON.stringify(name.slice(0, 64))}… (${name.length} characters)`
          : JSON.stringify(name);
      return {
        ok: false,
        problem: `resource attribute service.name is ${shown}, not 1 to 256 printable characters`,
      };
    }
  }
  return { ok: true, service: UNKNOWN_SERVICE };
}

/**
 * Whether a resource says its service runs perf-sidecar in process (`telemetry.distro.name` is
 * `perf-sidecar`, as perf-sidecar's own SDK set-up writes it): such a service judges its own spans.
 */
export function runsPerfSidecar(attributes: readonly ProtoKeyValue[] | null | undefined): boolean {
  for (const entry of attributes ?? []) {
    if (entry?.key !== DISTRO_NAME_KEY) continue;
    const value = entry.value;
    return !!value && Object.hasOwn(value, 'stringValue') && value.stringValue === SCOPE_NAME;
  }
  return false;
}
