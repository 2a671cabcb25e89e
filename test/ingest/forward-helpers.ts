/**
 * What the forwarder tests share: decoded OTLP requests as the receivers hand them over, the spans
 * inside them to annotate, and a logger whose lines a test can read.
 */
import { Writable } from 'node:stream';
import { type Logger, pino } from 'pino';
import { otlpTypes } from '../../src/ingest/proto.ts';
import type { ProtoSpanTarget } from '../../src/ingest/types.ts';

/** A decoded request and the spans in it. */
export interface DecodedRequest {
  readonly request: object;
  readonly spans: ProtoSpanTarget[];
}

interface DecodedShape {
  resourceSpans: { scopeSpans: { spans: ProtoSpanTarget[] }[] }[];
}

/**
 * An `ExportTraceServiceRequest` of one span per name, encoded and decoded again with protobufjs,
 * as a receiver decodes what it is sent. Each span carries `http.route`, an integer status code,
 * a boolean, an array, and a client's own (unusable) `perf.target_seconds`.
 */
export function decodedRequest(names: readonly string[], service = 'checkout'): DecodedRequest {
  const { traceRequest } = otlpTypes();
  const object = {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeSpans: [
          {
            scope: { name: 'forward-test' },
            spans: names.map((name, i) => ({
              traceId: Buffer.alloc(16, 0xab),
              spanId: Buffer.from((i + 1).toString(16).padStart(16, '0'), 'hex'),
              name,
              kind: 2,
              startTimeUnixNano: '1700000000000000000',
              endTimeUnixNano: '1700000000250000000',
              attributes: [
                { key: 'http.route', value: { stringValue: '/orders/:id' } },
                { key: 'http.response.status_code', value: { intValue: 200 } },
                { key: 'cache.hit', value: { boolValue: true } },
                {
                  key: 'tags',
                  value: { arrayValue: { values: [{ stringValue: 'a' }, { stringValue: 'b' }] } },
                },
                { key: 'perf.target_seconds', value: { stringValue: 'soon' } },
              ],
              status: { code: 0 },
            })),
          },
        ],
      },
    ],
  };
  const request = traceRequest.decode(traceRequest.encode(traceRequest.fromObject(object)).finish());
  const shape = request as unknown as DecodedShape;
  return { request, spans: shape.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans)) };
}

/** An encoded `ExportMetricsServiceRequest` with one gauge of `points` data points. */
export function encodedMetrics(points: number, service = 'checkout'): Uint8Array {
  const { metricsRequest } = otlpTypes();
  const object = {
    resourceMetrics: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeMetrics: [
          {
            metrics: [
              {
                name: 'queue.depth',
                unit: '{item}',
                gauge: {
                  dataPoints: Array.from({ length: points }, (_, i) => ({
                    timeUnixNano: '1700000000000000000',
                    asInt: i,
                    attributes: [{ key: 'queue', value: { stringValue: `q${i}` } }],
                  })),
                },
              },
            ],
          },
        ],
      },
    ],
  };
  return metricsRequest.encode(metricsRequest.fromObject(object)).finish();
}

/** A pino logger that keeps its raw lines for a test to read. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}
