/**
 * The middleware's own span attributes, set without the SDK's per-value check: on the SDK's spans
 * they must end up exactly as `setAttributes` / `setAttribute` leave them (values, count, dropped
 * count), with the span limits in force and on spans that are not the SDK's.
 */
import { type Span, trace } from '@opentelemetry/api';
import { type ReadableSpan, type SpanLimits, TracerProvider } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { setOwnAttribute, setOwnAttributes } from '../../src/http/middleware/span-attributes.ts';

const ATTRIBUTES = {
  'http.request.method': 'GET',
  'url.path': '/items/42',
  'server.port': 8080,
  'user_agent.original': undefined,
  'correlation.id': 'a-rather-long-correlation-id',
};

/** The same steps on two spans of a provider with `limits`: the SDK's calls, and the own ones. */
function both(limits: SpanLimits, steps: (span: Span, own: boolean) => void): [ReadableSpan, ReadableSpan] {
  const tracer = new TracerProvider({ spanLimits: limits }).getTracer('test');
  const spans = [false, true].map((own) => {
    const span = tracer.startSpan('GET /items/:id', { attributes: { preset: 'x' } });
    steps(span, own);
    span.end();
    return span as unknown as ReadableSpan;
  });
  return spans as [ReadableSpan, ReadableSpan];
}

function summary(span: ReadableSpan) {
  return { attributes: span.attributes, dropped: span.droppedAttributesCount };
}

const steps = (span: Span, own: boolean) => {
  if (own) setOwnAttributes(span, ATTRIBUTES);
  else span.setAttributes(ATTRIBUTES);
  // A known key again (not counted twice), then a new one.
  if (own) setOwnAttribute(span, 'url.path', '/items/43');
  else span.setAttribute('url.path', '/items/43');
  if (own) setOwnAttribute(span, 'http.response.status_code', 503);
  else span.setAttribute('http.response.status_code', 503);
};

describe('setOwnAttributes and setOwnAttribute', () => {
  it('leave an SDK span as setAttributes and setAttribute do', () => {
    const [sdk, own] = both({}, steps);
    expect(summary(own)).toEqual(summary(sdk));
    expect(own.attributes).toEqual({
      preset: 'x',
      'http.request.method': 'GET',
      'url.path': '/items/43',
      'server.port': 8080,
      'correlation.id': 'a-rather-long-correlation-id',
      'http.response.status_code': 503,
    });
    expect(Object.hasOwn(own.attributes, 'user_agent.original')).toBe(false);
  });

  it('keep the count limit: the attributes past it are dropped and counted', () => {
    const [sdk, own] = both({ attributeCountLimit: 4 }, steps);
    expect(summary(own)).toEqual(summary(sdk));
    expect(own.droppedAttributesCount).toBeGreaterThan(0);
  });

  it('keep the value length limit: long strings are truncated', () => {
    const [sdk, own] = both({ attributeValueLengthLimit: 8 }, steps);
    expect(summary(own)).toEqual(summary(sdk));
    expect(own.attributes['correlation.id']).toBe('a-rather');
  });

  it('count what they add, so that later attributes meet the count limit where they would', () => {
    // Room for exactly the preset, the four defined values and the status code: one more is dropped.
    const [sdk, own] = both({ attributeCountLimit: 6 }, (span, isOwn) => {
      steps(span, isOwn);
      span.setAttribute('later', 1);
    });
    expect(summary(own)).toEqual(summary(sdk));
    expect(own.droppedAttributesCount).toBe(1);
  });

  it('leave ended spans alone, and use the span API on spans that are not the SDK’s', () => {
    const [sdk, own] = both({}, (span, isOwn) => {
      span.end();
      if (isOwn) setOwnAttributes(span, ATTRIBUTES);
      else span.setAttributes(ATTRIBUTES);
    });
    expect(summary(own)).toEqual(summary(sdk));
    const calls: unknown[] = [];
    const other = trace.wrapSpanContext({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
    });
    other.setAttributes = (attributes) => {
      calls.push(attributes);
      return other;
    };
    other.setAttribute = (key, value) => {
      calls.push([key, value]);
      return other;
    };
    setOwnAttributes(other, ATTRIBUTES);
    setOwnAttribute(other, 'http.response.status_code', 200);
    expect(calls).toEqual([ATTRIBUTES, ['http.response.status_code', 200]]);
  });
});
