/**
 * A minimal OTLP/HTTP JSON receiver for tests: collects the spans and metrics a child process
 * exports (to `<url>/v1/traces`, `<url>/v1/metrics` or any other path: a JSON body with
 * `resourceSpans` is traces, with `resourceMetrics` metrics), and every request's path and headers.
 * `GET <url>/received` answers how many metric pushes have arrived, so a fixture can wait for them.
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

interface MetricsPayload {
  resourceMetrics: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeMetrics?: { scope?: { name: string }; metrics?: { name: string }[] }[];
  }[];
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

/** One request as received. */
export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** One metric of a metrics push, with its resource and scope. */
export interface ReceivedMetric {
  readonly name: string;
  readonly scope: string;
  readonly resource: Record<string, string | number | boolean | undefined>;
}

/** Collects spans and metrics posted to it. */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly metrics: ReceivedMetric[] = [];
  /** Every POST, in order. */
  readonly requests: ReceivedRequest[] = [];
  /** Metric pushes received. */
  metricPushes = 0;
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
      if (req.method === 'GET' && req.url === '/received') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ metricPushes: receiver?.metricPushes ?? 0 }));
        return;
      }
      receiver?.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: { ...req.headers } });
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

  accept(_path: string, body: string): void {
    this.bodies.push(body);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return; // protobuf: recorded in `requests` and `bodies` only
    }
    if (parsed !== null && typeof parsed === 'object' && 'resourceMetrics' in parsed) {
      this.#acceptMetrics(parsed as MetricsPayload);
      return;
    }
    const payload = parsed as {
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
    for (const rs of payload.resourceSpans ?? []) {
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

  #acceptMetrics(payload: MetricsPayload): void {
    this.metricPushes += 1;
    for (const rm of payload.resourceMetrics) {
      const resource = plain(rm.resource?.attributes);
      for (const sm of rm.scopeMetrics ?? []) {
        for (const metric of sm.metrics ?? []) {
          this.metrics.push({ name: metric.name, scope: sm.scope?.name ?? '', resource });
        }
      }
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
