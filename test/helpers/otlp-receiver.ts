/**
 * A minimal OTLP/HTTP JSON receiver for tests: collects the spans that a child process exports to
 * `<url>/v1/traces`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** An OTLP attribute value (JSON encoding). */
export interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values: OtlpValue[] };
}

/** A span as decoded from OTLP JSON, with its resource and scope attached. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean | undefined>;
  scope: string;
  resource: Record<string, string | number | boolean | undefined>;
}

interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}

function plain(
  attributes: OtlpAttribute[] | undefined,
): Record<string, string | number | boolean | undefined> {
  const out: Record<string, string | number | boolean | undefined> = {};
  for (const { key, value } of attributes ?? []) {
    out[key] =
      value.stringValue ??
      (value.intValue !== undefined ? Number(value.intValue) : undefined) ??
      value.doubleValue ??
      value.boolValue ??
      (value.arrayValue ? JSON.stringify(value.arrayValue.values) : undefined);
  }
  return out;
}

/** Collects spans posted to it. */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Raw request bodies, for "this never appears anywhere" checks. */
  readonly bodies: string[] = [];
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Starts a receiver on a free loopback port. */
  static async start(): Promise<OtlpReceiver> {
    let receiver: OtlpReceiver | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        receiver?.accept(req.url ?? '', body);
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    receiver = new OtlpReceiver(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return receiver;
  }

  /** Base URL to give as OTEL_EXPORTER_OTLP_ENDPOINT. */
  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  accept(path: string, body: string): void {
    if (path !== '/v1/traces') return;
    this.bodies.push(body);
    const payload = JSON.parse(body) as {
      resourceSpans: {
        resource?: { attributes?: OtlpAttribute[] };
        scopeSpans: {
          scope?: { name: string };
          spans: (Omit<ReceivedSpan, 'attributes' | 'scope' | 'resource'> & {
            attributes?: OtlpAttribute[];
          })[];
        }[];
      }[];
    };
    for (const rs of payload.resourceSpans) {
      const resource = plain(rs.resource?.attributes);
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          this.spans.push({
            ...span,
            attributes: plain(span.attributes),
            scope: ss.scope?.name ?? '',
            resource,
          });
        }
      }
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
