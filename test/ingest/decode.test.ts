/**
 * Decoding and span checks on their own, with protobufjs and the OTLP definitions: the OTLP/JSON
 * mapping, the attribute view and its bounds, ids, times, kinds, and input that must be refused
 * without bringing anything down.
 */
import { SpanKind } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import {
  attributesOf,
  MAX_VIEW_ATTRIBUTES,
  MAX_VIEW_STRING_LENGTH,
  serviceOf,
  UNKNOWN_SERVICE,
} from '../../src/ingest/attributes.ts';
import { checkTraces, countDataPoints, DecodeError, decodeMessage } from '../../src/ingest/decode.ts';
import { otlpTypes } from '../../src/ingest/proto.ts';
import type { ProtoKeyValue } from '../../src/ingest/types.ts';
import { freshId, keyValues, nowNs, traceRequest, traceRequestObject } from './helpers.ts';

const traceType = () => otlpTypes().traceRequest;

function decodeJson(json: unknown): object {
  return decodeMessage(traceType(), Buffer.from(JSON.stringify(json)), 'json', 'an OTLP trace request');
}

function oneSpanJson(span: Record<string, unknown>, resource: object[] = []): unknown {
  return { resourceSpans: [{ resource: { attributes: resource }, scopeSpans: [{ spans: [span] }] }] };
}

const NOW = Date.now();
const START = String(BigInt(NOW - 1000) * 1_000_000n);
const IDS = { traceId: '0102030405060708090a0b0c0d0e0f10', spanId: 'a1a2a3a4a5a6a7a8' };

describe('OTLP/JSON decoding', () => {
  it('reads 64-bit integers from strings and numbers, enums from integers and names, and ignores unknown fields', () => {
    const span = {
      ...IDS,
      name: 's',
      kind: 'SPAN_KIND_CONSUMER',
      startTimeUnixNano: START,
      endTimeUnixNano: Number(START) + 2e6,
      mystery: 1,
    };
    const checked = checkTraces(decodeJson(oneSpanJson(span)), NOW);
    expect(checked.rejected).toBe(0);
    const view = checked.spans[0]?.view;
    expect(view?.kind).toBe(SpanKind.CONSUMER);
    // The number lost precision in JSON (beyond 2^53), as the mapping allows: about 2 ms.
    expect(view?.durationSeconds).toBeCloseTo(0.002, 5);
  });

  it('treats null as absent and accepts proto3 JSON number forms', () => {
    const span = {
      ...IDS,
      name: null,
      startTimeUnixNano: START,
      endTimeUnixNano: START,
      attributes: [
        { key: 'nan', value: { doubleValue: 'NaN' } },
        { key: 'exp', value: { doubleValue: '1e3' } },
        { key: 'big', value: { intValue: '-9007199254740993' } },
      ],
      status: null,
    };
    const view = checkTraces(decodeJson(oneSpanJson(span)), NOW).spans[0]?.view;
    expect(view?.name).toBe('');
    expect(view?.attributes.nan).toBeNaN();
    expect(view?.attributes.exp).toBe(1000);
    expect(view?.attributes.big).toBe(-9007199254740992);
    expect(view?.durationSeconds).toBe(0);
  });

  it('names the field and the expected form of the first wrong value', () => {
    const wrong = (span: Record<string, unknown>) => () => decodeJson(oneSpanJson({ ...IDS, ...span }));
    expect(wrong({ flags: -1 })).toThrow(/spans\[0\]\.flags: is -1; expected a non-negative integer/);
    expect(wrong({ flags: 1.5 })).toThrow(/flags: is 1\.5; expected a non-negative integer/);
    expect(wrong({ attributes: [null] })).toThrow(/attributes\[0\]: is null; expected a value/);
    expect(wrong({ attributes: [{ key: 'b', value: { boolValue: 'yes' } }] })).toThrow(
      /value\.boolValue: is "yes"; expected true or false/,
    );
    expect(wrong({ attributes: [{ key: 'b', value: { bytesValue: '***' } }] })).toThrow(
      /bytesValue: is "\*\*\*"; expected base64/,
    );
    expect(wrong({ spanId: 'abc' })).toThrow(/spanId: is "abc"; expected hex digits/);
    expect(wrong({ status: { code: 'ERROR!' } })).toThrow(
      /status\.code: is "ERROR!"; expected an integer \(StatusCode\)/,
    );
    expect(wrong({ links: {} })).toThrow(/links: is an object; expected an array/);
    expect(() => decodeJson('text')).toThrow(/the body: is "text"; expected an object/);
  });

  it('refuses nesting past its depth, and JSON nested past what the parser takes, as decode errors', () => {
    let value: object = { stringValue: 'leaf' };
    for (let i = 0; i < 100; i++) value = { arrayValue: { values: [value] } };
    const deep = oneSpanJson({ ...IDS, attributes: [{ key: 'deep', value }] });
    expect(() => decodeJson(deep)).toThrow(DecodeError);
    expect(() => decodeJson(deep)).toThrow(/nests more than 100 messages deep/);
    // The path of a value that deep is shown by its two ends, not by its hundred levels.
    const message = (() => {
      try {
        decodeJson(deep);
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(message).toMatch(
      /^the body is not an OTLP trace request in OTLP\/JSON: resourceSpans\[0\]\.scopeSpans/,
    );
    expect(message?.length).toBeLessThan(400);
    const absurd = Buffer.from(`${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`);
    expect(() => decodeMessage(traceType(), absurd, 'json', 'x')).toThrow(DecodeError);
  });

  it('decodes to the same message objects as protobuf does', () => {
    const object = traceRequestObject('same', [
      { name: 'twin', attributes: { a: 1, b: 'two', c: [true, false] } },
    ]);
    const fromProto = decodeMessage(traceType(), traceRequest('same', []), 'protobuf', 'x');
    expect(fromProto.constructor).toBe(traceType().ctor);
    const json = JSON.stringify(object, (_k, v: unknown) =>
      (v as { type?: string })?.type === 'Buffer'
        ? Buffer.from((v as { data: number[] }).data).toString('hex')
        : v,
    );
    const fromJson = decodeMessage(traceType(), Buffer.from(json), 'json', 'x');
    expect(fromJson.constructor).toBe(traceType().ctor);
    const encoded = traceType().encode(fromJson).finish();
    expect(
      Buffer.from(encoded).equals(Buffer.from(traceType().encode(traceType().fromObject(object)).finish())),
    ).toBe(true);
  });
});

describe('nesting, alike in JSON and protobuf', () => {
  /**
   * One span whose attribute `deep` holds `levels` arrays in one another, as OTLP/JSON and as
   * protobuf bytes. The bytes are put together by hand around {@link nestedAnyValue}: protobufjs
   * would not encode what is past its limit.
   */
  function deepRequest(levels: number): { json: Buffer; protobuf: Buffer } {
    const span = { ...IDS, name: 'deep', startTimeUnixNano: START, endTimeUnixNano: START };
    let value: object = { stringValue: 'x' };
    for (let i = 0; i < levels; i++) value = { arrayValue: { values: [value] } };
    const json = Buffer.from(JSON.stringify(oneSpanJson({ ...span, attributes: [{ key: 'deep', value }] })));
    const spanType = traceType().lookupType('opentelemetry.proto.trace.v1.Span');
    const spanBytes = spanType
      .encode(
        spanType.fromObject({
          traceId: Buffer.from(IDS.traceId, 'hex'),
          spanId: Buffer.from(IDS.spanId, 'hex'),
          name: 'deep',
          startTimeUnixNano: START,
          endTimeUnixNano: START,
        }),
      )
      .finish();
    // KeyValue { key: "deep" (1), value (2) }, appended to the span as attributes (9).
    const keyValue = Buffer.concat([field(1, Buffer.from('deep')), field(2, nestedAnyValue(levels))]);
    const fullSpan = Buffer.concat([Buffer.from(spanBytes), field(9, keyValue)]);
    // ExportTraceServiceRequest { resource_spans (1): ResourceSpans { resource (1): {},
    // scope_spans (2): ScopeSpans { spans (2) } } }, as the JSON has it.
    const protobuf = field(1, Buffer.concat([field(1, Buffer.alloc(0)), field(2, field(2, fullSpan))]));
    return { json, protobuf };
  }

  function outcome(body: Buffer, format: 'json' | 'protobuf'): string {
    try {
      decodeMessage(traceType(), body, format, 'an OTLP trace request');
      return 'accepted';
    } catch (error) {
      expect(error).toBeInstanceOf(DecodeError);
      return 'refused';
    }
  }

  it('accepts and refuses the same nesting in both encodings: up to 100 message levels, as protobufjs', () => {
    // The request is level 0 and the attribute's AnyValue level 5; each array adds two levels.
    for (const [levels, expected] of [
      [29, 'accepted'],
      [47, 'accepted'],
      [48, 'refused'],
    ] as const) {
      const { json, protobuf } = deepRequest(levels);
      expect([levels, outcome(json, 'json')]).toEqual([levels, expected]);
      expect([levels, outcome(protobuf, 'protobuf')]).toEqual([levels, expected]);
    }
    // What is accepted decodes to the same message either way, and can be encoded again (to forward).
    const { json, protobuf } = deepRequest(47);
    const fromJson = traceType()
      .encode(decodeMessage(traceType(), json, 'json', 'x'))
      .finish();
    const fromProto = traceType()
      .encode(decodeMessage(traceType(), protobuf, 'protobuf', 'x'))
      .finish();
    expect(Buffer.from(fromJson).equals(Buffer.from(fromProto))).toBe(true);
  });
});

describe('protobuf decoding', () => {
  it("refuses messages nested past protobuf's recursion limit (100, as protoc) as a decode error", () => {
    const type = otlpTypes().traceRequest.lookupType('opentelemetry.proto.common.v1.AnyValue');
    // The same bytes nested less deeply do decode: the depth is the only problem.
    expect(decodeMessage(type, nestedAnyValue(45), 'protobuf', 'an AnyValue')).toBeInstanceOf(type.ctor);
    for (const depth of [60, 200_000]) {
      expect(() => decodeMessage(type, nestedAnyValue(depth), 'protobuf', 'an AnyValue')).toThrow(
        /^the body is not an AnyValue in protobuf: maximum nesting depth exceeded$/,
      );
    }
  });
});

/**
 * An AnyValue holding an ArrayValue holding an AnyValue ..., `depth` levels deep, as raw bytes
 * (built inside out: each level's header needs the length of what it holds).
 */
function nestedAnyValue(depth: number): Buffer {
  const leaf = Buffer.from([0x0a, 0x01, 0x78]); // AnyValue { string_value: "x" }
  const headers: Buffer[] = [];
  let length = leaf.length;
  for (let i = 0; i < depth; i++) {
    const array = 1 + varint(length).length + length; // ArrayValue { values: [inner] }
    headers.push(Buffer.concat([Buffer.from([0x2a]), varint(array), Buffer.from([0x0a]), varint(length)]));
    length = 1 + varint(array).length + array; // AnyValue { array_value: ... }
  }
  return Buffer.concat([...headers.reverse(), leaf]);
}

/** A length-delimited protobuf field: tag `number`, wire type 2. */
function field(number: number, bytes: Uint8Array): Buffer {
  return Buffer.concat([varint((number << 3) | 2), varint(bytes.length), bytes]);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  let v = n;
  while (v > 127) {
    bytes.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  bytes.push(v);
  return Buffer.from(bytes);
}

describe('span checks', () => {
  const check = (span: Parameters<typeof traceRequest>[1][number], service = 'svc') =>
    checkTraces(traceType().decode(traceRequest(service, [span])), NOW);

  it('maps OTLP kinds to the API numbering, unspecified and unknown kinds as INTERNAL', () => {
    const kinds = [0, 1, 2, 3, 4, 5, 9].map((kind) => check({ kind }).spans[0]?.view.kind);
    expect(kinds).toEqual([
      SpanKind.INTERNAL,
      SpanKind.INTERNAL,
      SpanKind.SERVER,
      SpanKind.CLIENT,
      SpanKind.PRODUCER,
      SpanKind.CONSUMER,
      SpanKind.INTERNAL,
    ]);
  });

  it('computes durations exactly from 64-bit nanoseconds and keeps the low byte of flags', () => {
    const start = 1_700_000_000_123_456_789n;
    const view = check({ startNs: start, endNs: start + 1n }).spans[0]?.view;
    expect(view?.durationSeconds).toBe(1e-9);
    expect(view?.traceFlags).toBe(1);
    const long = check({ startNs: start, endNs: start + 86_400_000_000_001n }).spans[0]?.view;
    expect(long?.durationSeconds).toBe(86_400.000000001);
  });

  it('allows an hour of clock skew, not more', () => {
    const skew = BigInt(NOW) * 1_000_000n + 59n * 60n * 1_000_000_000n;
    expect(check({ startNs: skew, endNs: skew }).rejected).toBe(0);
    const past = skew + 2n * 60n * 1_000_000_000n;
    expect(check({ startNs: past - 10n, endNs: past }).rejectedReason).toMatch(
      /more than an hour in the future/,
    );
  });

  it('rejects missing times and wrong ids, naming the span', () => {
    expect(check({ name: 'nostart', startNs: 0n }).rejectedReason).toBe(
      'span 0 (name "nostart") was rejected: its start or end time is missing; expected both, in nanoseconds since the epoch',
    );
    expect(check({ spanId: new Uint8Array(8) }).rejectedReason).toMatch(
      /its span id is all zero; expected 8 bytes \(16 hex digits\)/,
    );
    expect(check({ traceId: freshId(8) }).rejectedReason).toMatch(
      /its trace id is 8 bytes; expected 16 bytes/,
    );
  });

  it('uses the resource service.name, unknown_service without one, and refuses an unusable one', () => {
    expect(check({}, 'orders').spans[0]?.view.service).toBe('orders');
    expect(check({}, '').spans[0]?.view.service).toBe(UNKNOWN_SERVICE);
    expect(serviceOf(keyValues({ 'service.name': 42 }) as ProtoKeyValue[])).toEqual({
      ok: true,
      service: UNKNOWN_SERVICE,
    });
    const long = check({}, 's'.repeat(300));
    expect(long.spans).toEqual([]);
    expect(long.rejectedReason).toMatch(
      /service\.name is "s{64}"… \(300 characters\), not 1 to 256 printable characters/,
    );
  });
});

describe('the attribute view', () => {
  it('reads scalars and homogeneous arrays, and leaves out kvlists, bytes, mixed arrays and empty values', () => {
    const list = [
      { key: 's', value: { stringValue: 'v' } },
      { key: 'f', value: { boolValue: false } },
      { key: 'i', value: { intValue: 7 } },
      { key: 'd', value: { doubleValue: 0.25 } },
      { key: 'nums', value: { arrayValue: { values: [{ intValue: 1 }, { doubleValue: 2.5 }] } } },
      { key: 'mixed', value: { arrayValue: { values: [{ intValue: 1 }, { stringValue: 'x' }] } } },
      { key: 'nested', value: { arrayValue: { values: [{ arrayValue: { values: [] } }] } } },
      { key: 'kv', value: { kvlistValue: { values: [{ key: 'a', value: { stringValue: 'b' } }] } } },
      { key: 'bytes', value: { bytesValue: Buffer.from([1]) } },
      { key: 'empty', value: {} },
      { key: 'none' },
      { key: '__proto__', value: { stringValue: 'plain key' } },
    ];
    const decoded = decodeMessage(
      traceType(),
      traceType()
        .encode(traceType().fromObject(requestWith(list)))
        .finish(),
      'protobuf',
      'x',
    );
    const attributes = checkTraces(decoded, NOW).spans[0]?.view.attributes ?? {};
    expect({ ...attributes }).toEqual({
      s: 'v',
      f: false,
      i: 7,
      d: 0.25,
      nums: [1, 2.5],
      ['__proto__']: 'plain key',
    });
    expect(Object.getPrototypeOf(attributes)).toBeNull();
  });

  it('reads at most 128 attributes, cuts strings and arrays, and skips absurd keys', () => {
    const list: ProtoKeyValue[] = Array.from({ length: 200 }, (_, i) => ({
      key: `k${i}`,
      value: { stringValue: 'x'.repeat(5000) },
    }));
    const view = attributesOf(list);
    expect(Object.keys(view)).toHaveLength(MAX_VIEW_ATTRIBUTES);
    expect(view.k0).toBe('x'.repeat(MAX_VIEW_STRING_LENGTH));
    expect(view.k128).toBeUndefined();
    const arrays = attributesOf([
      {
        key: 'many',
        value: {
          arrayValue: { values: Array.from({ length: 500 }, () => ({ stringValue: 'y'.repeat(5000) })) },
        },
      },
      { key: 'k'.repeat(2000), value: { stringValue: 'long key' } },
    ]);
    expect((arrays.many as string[]).length).toBe(128);
    expect((arrays.many as string[])[0]?.length).toBe(MAX_VIEW_STRING_LENGTH);
    expect(Object.keys(arrays)).toEqual(['many']);
  });
});

describe('metrics', () => {
  it('counts the data points of every metric type', () => {
    const type = otlpTypes().metricsRequest;
    const points = (n: number) => ({ dataPoints: Array.from({ length: n }, () => ({ asDouble: 1 })) });
    const request = type.fromObject({
      resourceMetrics: [
        {
          scopeMetrics: [
            {
              metrics: [
                { name: 'g', gauge: points(2) },
                { name: 's', sum: points(3) },
                { name: 'h', histogram: { dataPoints: [{ count: 1 }] } },
                { name: 'e', exponentialHistogram: { dataPoints: [{ count: 1 }, { count: 2 }] } },
                { name: 'q', summary: { dataPoints: [{ count: 1 }] } },
                { name: 'nothing' },
              ],
            },
          ],
        },
      ],
    });
    expect(countDataPoints(type.decode(type.encode(request).finish()))).toBe(9);
  });
});

function requestWith(attributes: object[]): object {
  return {
    resourceSpans: [
      {
        scopeSpans: [
          {
            spans: [
              {
                traceId: freshId(16),
                spanId: freshId(8),
                startTimeUnixNano: String(nowNs() - 10n),
                endTimeUnixNano: String(nowNs()),
                attributes,
              },
            ],
          },
        ],
      },
    ],
  };
}
