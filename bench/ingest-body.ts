/**
 * OTLP trace request bodies for the `ingest` benchmark, encoded once with protobufjs
 * (`otlpTypes().traceRequest`, the types the receivers decode with), so that every case decodes
 * exactly the same bytes.
 *
 * A request is what one service's exporter sends: one resource (service.name and the usual SDK and
 * host attributes), spans grouped by instrumentation scope, 100 spans of 10 traces. Each trace is
 * shaped like a real request: a SERVER span with `http.route`, `http.request.method`,
 * `http.response.status_code` and the other HTTP semantic-convention attributes, then INTERNAL
 * operations (`perf.operation`), database, Redis and outgoing HTTP CLIENT spans; about 10
 * attributes per span. Half the SERVER spans and some INTERNAL spans carry `perf.target_seconds`,
 * always above their duration (no breach, no alert) unless a breaching span is asked for.
 *
 * Bodies are deterministic (seeded), so two processes building the same set get the same bytes.
 */
import type { AttributeValue } from '@opentelemetry/api';
import { otlpTypes } from '../src/ingest/proto.ts';

/** Spans per request body. */
export const SPANS_PER_REQUEST = 100;
const SPANS_PER_TRACE = 10;

/** OTLP `SpanKind` values (the protobuf enum, one more than the API's). */
const KIND = { internal: 1, server: 2, client: 3 } as const;

const SERVICES = ['checkout', 'orders', 'payments'] as const;
const ROUTES = [
  ['GET', '/api/orders/:id'],
  ['GET', '/api/orders'],
  ['POST', '/api/orders'],
  ['GET', '/api/customers/:id'],
  ['PUT', '/api/customers/:id/address'],
  ['GET', '/api/products/:sku'],
  ['POST', '/api/payments'],
  ['GET', '/api/health/details'],
] as const;
const OPERATIONS = ['validate_order', 'price_order', 'reserve_stock', 'render_invoice'] as const;
const TABLES = ['orders', 'order_lines', 'customers', 'products'] as const;

/** Options of {@link traceBodies}. */
export interface TraceBodiesOptions {
  /** How many distinct bodies (distinct ids and durations). */
  readonly count: number;
  /** PRNG seed; the same seed gives the same bytes. Default 1. */
  readonly seed?: number;
  /** Spans end this long before now, ms (so none is in the future). Default 5000. */
  readonly agoMs?: number;
}

/** A breaching body of {@link breachingBody}: its bytes and how to find its alert. */
export interface BreachingBody {
  readonly body: Uint8Array;
  /** `perf.operation` of the one span that breaches: the alert's `labels.operation`. */
  readonly operation: string;
  /** Its trace id, 32 lowercase hex digits: the alert's `trace.trace_id`. */
  readonly traceId: string;
}

/** mulberry32: a small seeded PRNG, so that bodies are reproducible. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;

function pick<T>(random: Random, values: readonly T[]): T {
  return values[Math.floor(random() * values.length)] as T;
}

function id(random: Random, bytes: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Math.floor(random() * 256);
  out[0] = (out[0] ?? 0) | 1; // never all zero
  return out;
}

/** An OTLP `AnyValue` in protobufjs `fromObject` form, as the JS SDK's exporter types values. */
function anyValue(value: AttributeValue): object {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { intValue: value } : { doubleValue: value };
  }
  return { arrayValue: { values: (value as AttributeValue[]).map(anyValue) } };
}

function keyValues(attributes: Record<string, AttributeValue>): object[] {
  return Object.entries(attributes).map(([key, value]) => ({ key, value: anyValue(value) }));
}

interface SpanObject {
  readonly scope: string;
  readonly span: object;
}

/** The breach to put in one trace: its span's operation and target. */
interface Breach {
  readonly operation: string;
  readonly traceId: Buffer;
}

/** The 10 spans of one trace, newest ending `endNs`. */
function traceSpans(random: Random, endNs: bigint, breach: Breach | undefined): SpanObject[] {
  const traceId = breach?.traceId ?? id(random, 16);
  const [method, route] = pick(random, ROUTES);
  const serverMs = 20 + random() * 180;
  const serverStart = endNs - BigInt(Math.round(serverMs * 1e6));
  const serverId = id(random, 8);
  const spans: SpanObject[] = [];
  const span = (
    scope: string,
    name: string,
    kind: number,
    startNs: bigint,
    ms: number,
    attributes: Record<string, AttributeValue>,
    parent: Buffer | undefined,
  ) => {
    spans.push({
      scope,
      span: {
        traceId,
        spanId: parent === undefined ? serverId : id(random, 8),
        parentSpanId: parent ?? Buffer.alloc(0),
        flags: 0x301,
        name,
        kind,
        startTimeUnixNano: String(startNs),
        endTimeUnixNano: String(startNs + BigInt(Math.round(ms * 1e6))),
        attributes: keyValues(attributes),
        status: { code: 0 },
      },
    });
  };
  const path = route.replace(':id', String(1000 + Math.floor(random() * 9000))).replace(':sku', 'SKU-4411');
  span(
    '@opentelemetry/instrumentation-http',
    `${method} ${route}`,
    KIND.server,
    serverStart,
    serverMs,
    {
      'http.request.method': method,
      'http.route': route,
      'http.response.status_code': random() < 0.97 ? 200 : 503,
      'url.path': path,
      'url.scheme': 'http',
      'server.address': 'orders.internal',
      'server.port': 8080,
      'network.protocol.version': '1.1',
      'user_agent.original': 'okhttp/4.12.0',
      'client.address': '10.0.3.17',
      // Half the requests have a target: the rest are recorded as requests only.
      ...(random() < 0.5 ? { 'perf.target_seconds': 2 } : {}),
    },
    undefined,
  );
  let at = serverStart + 1_000_000n;
  const step = (ms: number) => {
    const start = at;
    at += BigInt(Math.round(ms * 1e6));
    return start;
  };
  for (let i = 0; i < 3; i++) {
    const operation = breach && i === 0 ? breach.operation : pick(random, OPERATIONS);
    // The breaching span takes 50 ms against a 1 ms target; the others stay well under theirs.
    const ms = breach && i === 0 ? 50 : 0.5 + random() * 4;
    const target = breach && i === 0 ? 0.001 : random() < 0.5 ? 0.25 : undefined;
    span(
      'orders-service',
      operation,
      KIND.internal,
      step(ms),
      ms,
      {
        'perf.operation': operation,
        ...(target === undefined ? {} : { 'perf.target_seconds': target }),
        'code.function.name': `OrderService.${operation}`,
        'code.file.path': '/app/src/orders/service.ts',
        'code.line.number': 40 + i * 17,
        'app.order.id': `ord_${Math.floor(random() * 1e9)}`,
        'app.order.lines': 1 + Math.floor(random() * 12),
        'app.customer.tier': pick(random, ['free', 'pro', 'enterprise']),
        'app.region': 'eu-west-1',
        'enduser.pseudo.id': `u_${Math.floor(random() * 1e6)}`,
      },
      serverId,
    );
  }
  for (let i = 0; i < 3; i++) {
    const table = pick(random, TABLES);
    const ms = 0.3 + random() * 6;
    span(
      '@opentelemetry/instrumentation-pg',
      `SELECT ${table}`,
      KIND.client,
      step(ms),
      ms,
      {
        'db.system.name': 'postgresql',
        'db.namespace': 'shop',
        'db.operation.name': 'SELECT',
        'db.collection.name': table,
        'db.query.text': `SELECT * FROM ${table} WHERE id = $1 AND tenant_id = $2 LIMIT 50`,
        'server.address': 'db.internal',
        'server.port': 5432,
        'network.peer.address': '10.0.8.4',
        'network.peer.port': 5432,
        'db.response.returned_rows': Math.floor(random() * 50),
      },
      serverId,
    );
  }
  for (let i = 0; i < 2; i++) {
    const ms = 2 + random() * 30;
    span(
      '@opentelemetry/instrumentation-undici',
      'POST',
      KIND.client,
      step(ms),
      ms,
      {
        'http.request.method': 'POST',
        'url.full': 'http://pricing.internal:8080/v2/quote',
        'url.scheme': 'http',
        'url.path': '/v2/quote',
        'server.address': 'pricing.internal',
        'server.port': 8080,
        'http.response.status_code': 200,
        'network.protocol.version': '1.1',
        'network.peer.address': '10.0.5.22',
        'user_agent.original': 'node',
      },
      serverId,
    );
  }
  const ms = 0.1 + random() * 1.5;
  span(
    '@opentelemetry/instrumentation-ioredis',
    'get',
    KIND.client,
    step(ms),
    ms,
    {
      'db.system.name': 'redis',
      'db.operation.name': 'GET',
      'db.query.text': 'get cart:?',
      'db.namespace': '0',
      'server.address': 'redis.internal',
      'server.port': 6379,
      'network.peer.address': '10.0.9.2',
      'network.peer.port': 6379,
      'network.transport': 'tcp',
      'db.client.connection.pool.name': 'cache',
    },
    serverId,
  );
  return spans;
}

/** One encoded request of {@link SPANS_PER_REQUEST} spans from one service. */
function encodeRequest(random: Random, nowNs: bigint, agoMs: number, breach?: Breach): Uint8Array {
  const service = pick(random, SERVICES);
  const spans: SpanObject[] = [];
  for (let t = 0; t < SPANS_PER_REQUEST / SPANS_PER_TRACE; t++) {
    // Traces end over the last ~2 s before `agoMs`, newest last, as a batch processor collects them.
    const endNs = nowNs - BigInt(agoMs) * 1_000_000n - BigInt(Math.round((10 - t) * 200 * 1e6));
    spans.push(...traceSpans(random, endNs, t === 0 ? breach : undefined));
  }
  const scopes = new Map<string, object[]>();
  for (const { scope, span } of spans) {
    const list = scopes.get(scope) ?? [];
    list.push(span);
    scopes.set(scope, list);
  }
  const type = otlpTypes().traceRequest;
  const message = type.fromObject({
    resourceSpans: [
      {
        resource: {
          attributes: keyValues({
            'service.name': service,
            'service.version': '3.14.2',
            'service.instance.id': `${service}-7d9f8b6c5-x2k4q`,
            'deployment.environment.name': 'production',
            'host.name': 'ip-10-0-3-17',
            'host.arch': 'amd64',
            'os.type': 'linux',
            'process.runtime.name': 'nodejs',
            'process.runtime.version': '24.21.0',
            'telemetry.sdk.name': 'opentelemetry',
            'telemetry.sdk.language': 'nodejs',
            'telemetry.sdk.version': '3.1.0',
          }),
        },
        scopeSpans: [...scopes].map(([name, list]) => ({ scope: { name, version: '0.301.0' }, spans: list })),
      },
    ],
  });
  return type.encode(message).finish();
}

/**
 * `count` distinct request bodies of {@link SPANS_PER_REQUEST} spans each, none breaching its
 * target.
 */
export function traceBodies(options: TraceBodiesOptions): Uint8Array[] {
  const random = prng(options.seed ?? 1);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  return Array.from({ length: options.count }, () => encodeRequest(random, nowNs, options.agoMs ?? 5000));
}

/**
 * A request body of {@link SPANS_PER_REQUEST} spans of which exactly one breaches its target (an
 * INTERNAL span of 50 ms with `perf.target_seconds` 0.001 and `perf.operation` = `operation`), in a
 * trace of its own id: the alert it raises is found by either.
 */
export function breachingBody(operation: string, seed: number): BreachingBody {
  const random = prng(seed);
  const traceId = id(random, 16);
  const body = encodeRequest(random, BigInt(Date.now()) * 1_000_000n, 100, { operation, traceId });
  return { body, operation, traceId: traceId.toString('hex') };
}
