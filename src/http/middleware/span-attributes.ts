/**
 * Setting the middleware's own span attributes without the SDK's per-value check.
 *
 * Why: the SDK's `setAttribute` checks every value with `isAnyValue`, which allocates a `WeakSet`
 * per call (for cycles in nested values), about 0.1-0.2 µs each; the middleware's server span gets
 * a dozen attributes per request, all strings and numbers it built itself, so the checks are about
 * a tenth of what the middleware's span costs. Written directly into the SDK span, they are what
 * `setAttribute` would store: a string or number is stored as given when no value length limit
 * applies, and the attribute count follows the same rule (a new key counts, a known key does not).
 *
 * Only on a span of the pinned SDK's shape (`@opentelemetry/sdk-trace` 3.1: its own `attributes`
 * object, `_attributesCount`, `_spanLimits`, `_ended`), still open, with no value length limit and
 * room for every key; anything else goes through `setAttributes`, which applies the limits and
 * warnings itself.
 */
import type { Attributes, Span } from '@opentelemetry/api';

/** The fields of the SDK's span read and written here (`SpanImpl` of `@opentelemetry/sdk-trace`). */
interface SdkSpanFields {
  attributes: Record<string, unknown>;
  _attributesCount: number;
  _ended: boolean;
  _spanLimits: { attributeCountLimit?: number; attributeValueLengthLimit?: number };
}

/** `span` as an SDK span whose fields this module may write, or `undefined`. */
function sdkFields(span: Span): SdkSpanFields | undefined {
  const fields = span as unknown as Partial<SdkSpanFields>;
  const limits = fields._spanLimits;
  return fields._ended === false &&
    typeof fields._attributesCount === 'number' &&
    typeof fields.attributes === 'object' &&
    fields.attributes !== null &&
    typeof limits === 'object' &&
    limits !== null
    ? (fields as SdkSpanFields)
    : undefined;
}

/** Whether `fields` take `added` new keys without the SDK's limits coming into play. */
function fits(fields: SdkSpanFields, added: number): boolean {
  const { attributeCountLimit, attributeValueLengthLimit } = fields._spanLimits;
  // A value length limit truncates strings, and the count limit drops keys (with a warning): the
  // SDK does both itself.
  return (
    (attributeValueLengthLimit ?? Number.POSITIVE_INFINITY) === Number.POSITIVE_INFINITY &&
    typeof attributeCountLimit === 'number' &&
    fields._attributesCount + added <= attributeCountLimit
  );
}

/**
 * Sets `attributes` (string and number values, or `undefined` for none) on `span`, as
 * `span.setAttributes(attributes)` would.
 */
export function setOwnAttributes(
  span: Span,
  attributes: Readonly<Record<string, string | number | undefined>>,
): void {
  const fields = sdkFields(span);
  if (fields !== undefined) {
    const target = fields.attributes;
    let added = 0;
    for (const key in attributes) {
      if (attributes[key] !== undefined && !Object.hasOwn(target, key)) added++;
    }
    if (fits(fields, added)) {
      for (const key in attributes) {
        const value = attributes[key];
        if (value !== undefined) target[key] = value;
      }
      fields._attributesCount += added;
      return;
    }
  }
  span.setAttributes(attributes as Attributes);
}

/** Sets one attribute (a string or a number) on `span`, as `span.setAttribute(key, value)` would. */
export function setOwnAttribute(span: Span, key: string, value: string | number): void {
  const fields = sdkFields(span);
  if (fields !== undefined) {
    const added = Object.hasOwn(fields.attributes, key) ? 0 : 1;
    if (fits(fields, added)) {
      fields.attributes[key] = value;
      fields._attributesCount += added;
      return;
    }
  }
  span.setAttribute(key, value);
}
