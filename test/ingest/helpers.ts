/**
 * Helpers of the receiver tests: receivers on free ports whose evaluation callback records what
 * arrives (and can be held, to fill the queue deterministically), curl as the raw OTLP/HTTP client,
 * a grpc-js client sending raw bytes as the OTLP/gRPC one, and OTLP request bodies built with
 * protobufjs from plain objects.
 */
import { spawn } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import {
  type Client,
  credentials,
  type GrpcObject,
  Metadata,
  makeGenericClientConstructor,
  type ServiceError,
} from '@grpc/grpc-js';
import type { Attributes } from '@opentelemetry/api';
import { pino } from 'pino';
import { otlpTypes } from '../../src/ingest/proto.ts';
import { type Receivers, type ReceiversOptions, startReceivers } from '../../src/ingest/receivers.ts';
import type { DecodedTraces } from '../../src/ingest/types.ts';

/** A silent logger: the tests assert on counters and answers, not log lines. */
export const quiet = pino({ level: 'silent' });

/** One metrics request as the callback received it. */
export interface MetricsCall {
  readonly request: object;
  readonly dataPoints: number;
  readonly raw: Uint8Array | undefined;
}

/** Receivers under test, with what reached their callbacks. */
export interface TestReceivers {
  readonly receivers: Receivers;
  /** Every trace request handed to evaluation, in order. */
  readonly batches: DecodedTraces[];
  readonly metrics: MetricsCall[];
  /** From now on, evaluation waits (the queue fills) until {@link TestReceivers.release}. */
  hold(): void;
  release(): void;
  /** All spans evaluated so far. */
  spanCount(): number;
}

/** Starts receivers on free loopback ports; `options` override the test defaults. */
export async function startTestReceivers(options: Partial<ReceiversOptions> = {}): Promise<TestReceivers> {
  const batches: DecodedTraces[] = [];
  const metrics: MetricsCall[] = [];
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  const receivers = await startReceivers({
    httpPort: 0,
    grpcPort: 0,
    logger: quiet,
    processTraces: (decoded) => {
      batches.push(decoded);
      return gate;
    },
    onMetrics: (request, dataPoints, raw) => {
      metrics.push({ request, dataPoints, raw });
    },
    ...options,
  });
  return {
    receivers,
    batches,
    metrics,
    hold() {
      gate ??= new Promise((resolve) => {
        open = resolve;
      });
    },
    release() {
      open?.();
      gate = undefined;
      open = undefined;
    },
    spanCount: () => batches.reduce((n, b) => n + b.spans.length, 0),
  };
}

/** What curl got back. */
export interface CurlResponse {
  readonly status: number;
  /** Header names lowercased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** What curl wrote to stderr (with `-v`, how it connected). */
  readonly stderr: string;
  /** The body as JSON (throws when it is not). */
  json(): Record<string, unknown>;
}

/**
 * Runs curl against `url` (POST of `body` from stdin unless `args` say otherwise) and parses the
 * answer. `Expect:` is sent empty so that large bodies go without a `100 Continue` round trip.
 */
export function curl(
  url: string,
  args: readonly string[],
  body?: Uint8Array | string,
): Promise<CurlResponse> {
  const all = [
    '-s',
    '-S',
    '-i',
    '-H',
    'Expect:',
    ...(body === undefined ? [] : ['--data-binary', '@-']),
    ...args,
    url,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('curl', all, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => undefined);
    child.on('error', reject);
    child.on('close', (code) => {
      const raw = Buffer.concat(out);
      const split = raw.indexOf('\r\n\r\n');
      if (code !== 0 || split === -1) {
        reject(new Error(`curl exited ${code}: ${Buffer.concat(err).toString()}`));
        return;
      }
      const [statusLine = '', ...lines] = raw.subarray(0, split).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      const responseBody = raw.subarray(split + 4);
      resolve({
        status: Number(statusLine.split(' ')[1]),
        headers,
        body: responseBody,
        stderr: Buffer.concat(err).toString(),
        json: () => JSON.parse(responseBody.toString('utf8')) as Record<string, unknown>,
      });
    });
    if (body !== undefined) child.stdin.end(body);
    else child.stdin.end();
  });
}

/** Headers of an OTLP/HTTP protobuf POST, for curl. */
export const PROTOBUF = ['-H', 'Content-Type: application/x-protobuf'];
/** Headers of an OTLP/JSON POST, for curl. */
export const JSON_BODY = ['-H', 'Content-Type: application/json'];

/** A span to put in a request body (the fields tests vary; the rest get sound defaults). */
export interface TestSpan {
  name?: string;
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  parentSpanId?: Uint8Array;
  kind?: number;
  startNs?: bigint;
  endNs?: bigint;
  attributes?: Attributes;
  statusCode?: number;
}

let counter = 0;

/** A fresh id of `bytes` bytes (never all zero). */
export function freshId(bytes: number): Uint8Array {
  counter++;
  const id = Buffer.alloc(bytes);
  id.writeUInt32BE(counter, bytes - 4);
  id[0] = 0xab;
  return id;
}

/** Now, in nanoseconds since the epoch. */
export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

function anyValue(value: unknown): object {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number')
    return Number.isInteger(value) ? { intValue: value } : { doubleValue: value };
  if (Array.isArray(value)) return { arrayValue: { values: value.map(anyValue) } };
  throw new Error(`no AnyValue for ${String(value)}`);
}

/** A KeyValue list from attributes. */
export function keyValues(attributes: Attributes): object[] {
  return Object.entries(attributes).map(([key, value]) => ({ key, value: anyValue(value) }));
}

/** A plain `ExportTraceServiceRequest` object (protobufjs `fromObject` form) of `spans` from `service`. */
export function traceRequestObject(service: string | undefined, spans: readonly TestSpan[]): object {
  const start = nowNs() - 2_000_000_000n;
  return {
    resourceSpans: [
      {
        resource: { attributes: service === undefined ? [] : keyValues({ 'service.name': service }) },
        scopeSpans: [
          {
            scope: { name: 'test' },
            spans: spans.map((s) => ({
              traceId: s.traceId ?? freshId(16),
              spanId: s.spanId ?? freshId(8),
              parentSpanId: s.parentSpanId ?? Buffer.alloc(0),
              name: s.name ?? 'op',
              kind: s.kind ?? 2,
              startTimeUnixNano: String(s.startNs ?? start),
              endTimeUnixNano: String(s.endNs ?? start + 250_000_000n),
              attributes: keyValues(s.attributes ?? {}),
              status: { code: s.statusCode ?? 0 },
              flags: 0x301,
            })),
          },
        ],
      },
    ],
  };
}

/** An encoded `ExportTraceServiceRequest` of `spans` from `service`. */
export function traceRequest(service: string | undefined, spans: readonly TestSpan[]): Buffer {
  const type = otlpTypes().traceRequest;
  return Buffer.from(type.encode(type.fromObject(traceRequestObject(service, spans))).finish());
}

/**
 * A gzip bomb: sixteen gzip members of 64 MiB of zeros, about 1 MiB on the wire and 1 GiB
 * decompressed (a receiver that gunzipped it whole would hold all of it).
 */
export function gzipBomb(): Buffer {
  const member = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
  return Buffer.concat(Array.from({ length: 16 }, () => member));
}

/** `count` simple spans. */
export function spans(count: number, make: (i: number) => TestSpan = () => ({})): TestSpan[] {
  return Array.from({ length: count }, (_, i) => make(i));
}

/** Decodes an `ExportTraceServiceResponse` (protobuf) as a plain object with string longs. */
export function traceResponseOf(body: Uint8Array): Record<string, unknown> {
  const type = otlpTypes().traceResponse;
  return type.toObject(type.decode(body), { longs: String }) as Record<string, unknown>;
}

/** Decodes a `google.rpc.Status` (protobuf) as a plain object. */
export function statusOf(body: Uint8Array): {
  code?: number;
  message?: string;
  details?: { type_url: string; value: Uint8Array }[];
} {
  const type = otlpTypes().status;
  return type.toObject(type.decode(body)) as ReturnType<typeof statusOf>;
}

/** An OTLP `Export` method taking and giving bytes. */
export type Raw = (
  body: Buffer,
  metadata: Metadata,
  callback: (error: ServiceError | null, response?: Buffer) => void,
) => void;

/** A client of one OTLP `Export` method that sends and returns bytes as they are. */
export function rawClient(address: string, method: string, gzip = false): Client & { Export: Raw } {
  const same = (bytes: Buffer) => bytes;
  const Constructor = makeGenericClientConstructor(
    {
      Export: {
        path: method,
        requestStream: false,
        responseStream: false,
        requestSerialize: same,
        requestDeserialize: same,
        responseSerialize: same,
        responseDeserialize: same,
      },
    },
    'Export',
  ) as unknown as GrpcObject[string] & (new (...args: unknown[]) => Client & { Export: Raw });
  // 2 is gzip in grpc-js's compression algorithms.
  return new Constructor(
    address,
    credentials.createInsecure(),
    gzip ? { 'grpc.default_compression_algorithm': 2 } : {},
  );
}

/** Sends `body` as it is with an `authorization: Bearer <token>` (none without `token`). */
export function sendRaw(
  client: { Export: Raw },
  body: Buffer,
  token?: string,
): Promise<{ error: ServiceError | null; response?: Buffer }> {
  const metadata = new Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) =>
    client.Export(body, metadata, (error, response) => resolve({ error, response })),
  );
}
