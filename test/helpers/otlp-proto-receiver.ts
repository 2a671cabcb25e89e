/**
 * An OTLP/HTTP protobuf receiver for tests: decodes `POST /v1/traces` bodies with the OTLP protobuf
 * definitions (proto/, loaded with protobufjs), independently of the exporter's
 * own serializer, and answers with an encoded `ExportTraceServiceResponse` as a collector does.
 * `POST /v1/metrics` bodies are kept as they came. A test can make it refuse the next requests
 * ({@link OtlpProtoReceiver.failNext}) or hold them unanswered ({@link OtlpProtoReceiver.hold}).
 */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import type { ReceivedSpan } from './otlp-receiver.ts';

const PROTO_DIR = resolve(import.meta.dirname, '../../proto');

/** Most a test receiver accepts in one request: bounded like everything else. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

interface DecodedValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string;
  doubleValue?: number;
  arrayValue?: { values?: DecodedValue[] };
  bytesValue?: Uint8Array;
}

interface DecodedKeyValue {
  key: string;
  value?: DecodedValue;
}

interface DecodedSpan {
  traceId: Uint8Array;
  spanId: Uint8Array;
  parentSpanId?: Uint8Array;
  name: string;
  kind?: number;
  attributes?: DecodedKeyValue[];
  status?: { code?: number; message?: string };
}

interface DecodedRequest {
  resourceSpans?: {
    resource?: { attributes?: DecodedKeyValue[] };
    scopeSpans?: { scope?: { name?: string }; spans?: DecodedSpan[] }[];
  }[];
}

/** The OTLP trace export request and response types, from the protobuf definitions. */
export function loadTraceTypes(): { request: protobuf.Type; response: protobuf.Type } {
  const root = new protobuf.Root();
  // Imports are written from the proto root (`opentelemetry/proto/...`), as upstream lays them out.
  root.resolvePath = (_origin, target) => join(PROTO_DIR, target);
  root.loadSync('opentelemetry/proto/collector/trace/v1/trace_service.proto');
  return {
    request: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    response: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
  };
}

function hex(bytes: Uint8Array | undefined): string | undefined {
  if (!bytes || bytes.length === 0) return undefined;
  return Buffer.from(bytes).toString('hex');
}

function plainValue(value: DecodedValue | undefined): string | number | boolean | undefined {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.arrayValue) return JSON.stringify((value.arrayValue.values ?? []).map(plainValue));
  if (value.bytesValue) return hex(value.bytesValue);
  return undefined;
}

function plain(
  attributes: DecodedKeyValue[] | undefined,
): Record<string, string | number | boolean | undefined> {
  const out: Record<string, string | number | boolean | undefined> = {};
  for (const { key, value } of attributes ?? []) out[key] = plainValue(value);
  return out;
}

/** A span as decoded from protobuf, with its status. */
export interface ProtoSpan extends ReceivedSpan {
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
}

/**
 * The spans of an encoded `ExportTraceServiceRequest` (`type`, from {@link loadTraceTypes}).
 *
 * @throws when the body is not such a request.
 */
export function decodeSpans(type: protobuf.Type, body: Uint8Array): ProtoSpan[] {
  const request = type.toObject(type.decode(body), { longs: String, enums: Number }) as DecodedRequest;
  const spans: ProtoSpan[] = [];
  for (const rs of request.resourceSpans ?? []) {
    const resource = plain(rs.resource?.attributes);
    for (const ss of rs.scopeSpans ?? []) {
      for (const span of ss.spans ?? []) {
        spans.push({
          traceId: hex(span.traceId) ?? '',
          spanId: hex(span.spanId) ?? '',
          parentSpanId: hex(span.parentSpanId),
          name: span.name,
          kind: span.kind ?? 0,
          attributes: plain(span.attributes),
          scope: ss.scope?.name ?? '',
          resource,
          statusCode: span.status?.code ?? 0,
        });
      }
    }
  }
  return spans;
}

/** How the receiver answers the next requests instead of accepting them. */
export interface Failure {
  /** HTTP status. */
  readonly status: number;
  /** Response headers (for example `retry-after`). */
  readonly headers?: Readonly<Record<string, string>>;
  /** Response body (text). */
  readonly body?: string;
}

/** Collects spans posted to it as OTLP/HTTP protobuf. */
export class OtlpProtoReceiver {
  readonly spans: ProtoSpan[] = [];
  /** Content types of the requests received (proof of the encoding). */
  readonly contentTypes: string[] = [];
  /** Requests that could not be decoded, with the reason. */
  readonly rejected: string[] = [];
  /** Headers of every request received, failed and held ones included. */
  readonly headers: IncomingHttpHeaders[] = [];
  /** Bodies posted to `/v1/metrics`, as received. */
  readonly metricBodies: Buffer[] = [];
  /** Requests answered with a failure (see {@link failNext}). */
  failed = 0;
  readonly #server: Server;
  readonly #failures: Failure[] = [];
  readonly #partials: { rejectedSpans: number; errorMessage: string }[] = [];
  #holding = false;
  readonly #held: (() => void)[] = [];

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Starts a receiver on a free loopback port. */
  static async start(): Promise<OtlpProtoReceiver> {
    const types = loadTraceTypes();
    let receiver: OtlpProtoReceiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      });
      req.on('end', () => {
        const self = receiver;
        if (!self) return;
        self.headers.push(req.headers);
        const failure = self.#failures.shift();
        if (failure) {
          self.failed++;
          res
            .writeHead(failure.status, { 'content-type': 'text/plain', ...failure.headers })
            .end(failure.body ?? '');
          return;
        }
        const answer = () => self.#answer(req.url, req.headers, Buffer.concat(chunks), size, res, types);
        if (self.#holding) self.#held.push(answer);
        else answer();
      });
    });
    receiver = new OtlpProtoReceiver(server);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    return receiver;
  }

  /** Answers the next `count` requests with `failure` instead of accepting them. */
  failNext(count: number, failure: Failure): void {
    for (let i = 0; i < count; i++) this.#failures.push(failure);
  }

  /** Accepts the next trace request but answers that `rejectedSpans` of its spans were refused. */
  partialNext(rejectedSpans: number, errorMessage: string): void {
    this.#partials.push({ rejectedSpans, errorMessage });
  }

  /** Keeps the next requests unanswered until {@link release} (a slow upstream). */
  hold(): void {
    this.#holding = true;
  }

  /** Requests held unanswered. */
  get held(): number {
    return this.#held.length;
  }

  /** Answers the held requests (in arrival order) and stops holding. */
  release(): void {
    this.#holding = false;
    for (const answer of this.#held.splice(0)) answer();
  }

  /** Accepts a request: spans decoded, metrics kept as they came. */
  #answer(
    url: string | undefined,
    headers: IncomingHttpHeaders,
    body: Buffer,
    size: number,
    res: ServerResponse,
    types: { request: protobuf.Type; response: protobuf.Type },
  ): void {
    if (url === '/v1/metrics' && size <= MAX_BODY_BYTES) {
      this.metricBodies.push(body);
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      return;
    }
    const accepted =
      url === '/v1/traces' && size <= MAX_BODY_BYTES
        ? this.accept(headers['content-type'] ?? '', headers['content-encoding'], body, types.request)
        : false;
    if (!accepted) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request');
      return;
    }
    const partial = this.#partials.shift();
    const answer = types.response
      .encode(types.response.fromObject(partial ? { partialSuccess: partial } : {}))
      .finish();
    res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(answer));
  }

  /** Base URL to give as OTEL_EXPORTER_OTLP_ENDPOINT. */
  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  accept(contentType: string, encoding: string | undefined, raw: Buffer, type: protobuf.Type): boolean {
    this.contentTypes.push(contentType);
    if (contentType !== 'application/x-protobuf') {
      this.rejected.push(`content-type ${contentType}`);
      return false;
    }
    try {
      this.spans.push(...decodeSpans(type, encoding === 'gzip' ? gunzipSync(raw) : raw));
    } catch (error) {
      this.rejected.push((error as Error).message);
      return false;
    }
    return true;
  }

  close(): Promise<void> {
    this.release();
    this.#server.closeAllConnections();
    return new Promise((done) => this.#server.close(() => done()));
  }
}
