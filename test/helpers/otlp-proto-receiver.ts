/**
 * An OTLP/HTTP protobuf receiver for tests: decodes `POST /v1/traces` bodies with the OTLP protobuf
 * definitions (proto/, loaded with protobufjs), independently of the exporter's
 * own serializer, and answers with an encoded `ExportTraceServiceResponse` as a collector does.
 */
import { createServer, type Server } from 'node:http';
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

/** Collects spans posted to it as OTLP/HTTP protobuf. */
export class OtlpProtoReceiver {
  readonly spans: ProtoSpan[] = [];
  /** Content types of the requests received (proof of the encoding). */
  readonly contentTypes: string[] = [];
  /** Requests that could not be decoded, with the reason. */
  readonly rejected: string[] = [];
  readonly #server: Server;

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
        const accepted =
          req.url === '/v1/traces' && size <= MAX_BODY_BYTES
            ? receiver?.accept(
                req.headers['content-type'] ?? '',
                req.headers['content-encoding'],
                Buffer.concat(chunks),
                types.request,
              )
            : false;
        if (!accepted) {
          res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request');
          return;
        }
        const body = types.response.encode(types.response.create({})).finish();
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(body));
      });
    });
    receiver = new OtlpProtoReceiver(server);
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    return receiver;
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
    return new Promise((done) => this.#server.close(() => done()));
  }
}
