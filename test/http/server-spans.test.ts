/**
 * The two ways of making a Hono app's HTTP server spans, proven equal in child processes started
 * as users start them (`node --import perf-sidecar/register hono-host-app.mjs`): (a) the default,
 * instrumentation-http's server span named by the middleware, and (b) `PERF_HTTP_SERVER_SPANS=
 * middleware`, the middleware's own span with instrumentation-http's incoming side off. The same
 * requests through both give the same span names, kinds, stable semantic-convention attributes,
 * statuses and parents (from an incoming `traceparent`), and the same
 * `http.server.request.duration` attribute sets and buckets; outgoing node:http calls keep their
 * client spans and propagate the context in both.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { type SidecarProcess, startSidecarProcess } from '../helpers/sidecar.ts';
import { waitFor } from '../helpers/wait.ts';

/** OTLP span kinds. */
const SERVER = 2;
const CLIENT = 3;
/** OTLP status code ERROR. */
const STATUS_ERROR = 2;

type Attributes = Record<string, string | number | boolean | undefined>;

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
}

function plain(attributes: OtlpAttribute[] | undefined): Attributes {
  const out: Attributes = {};
  for (const { key, value } of attributes ?? []) {
    out[key] =
      value.stringValue ??
      (value.intValue !== undefined ? Number(value.intValue) : undefined) ??
      value.doubleValue ??
      value.boolValue;
  }
  return out;
}

/** A span as exported, with what the shared receiver leaves out (status). */
interface Span {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: number;
  status: number;
  scope: string;
  attributes: Attributes;
}

interface OtlpSpans {
  resourceSpans?: {
    scopeSpans: {
      scope?: { name: string };
      spans: (Omit<Span, 'attributes' | 'scope' | 'status'> & {
        attributes?: OtlpAttribute[];
        status?: { code?: number };
      })[];
    }[];
  }[];
}

interface OtlpMetrics {
  resourceMetrics?: {
    scopeMetrics?: {
      metrics?: {
        name: string;
        histogram?: { dataPoints: { attributes?: OtlpAttribute[]; explicitBounds?: number[] }[] };
      }[];
    }[];
  }[];
}

function spansOf(receiver: OtlpReceiver): Span[] {
  const out: Span[] = [];
  for (const body of receiver.bodies) {
    const parsed = JSON.parse(body) as OtlpSpans;
    for (const rs of parsed.resourceSpans ?? []) {
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          out.push({
            ...span,
            parentSpanId: span.parentSpanId ?? '',
            status: span.status?.code ?? 0,
            scope: ss.scope?.name ?? '',
            attributes: plain(span.attributes),
          });
        }
      }
    }
  }
  return out;
}

/** The `http.server.request.duration` points of the latest metric push (cumulative). */
function durationPointsOf(receiver: OtlpReceiver): { attributes: Attributes; bounds: number[] }[] {
  let latest: { attributes: Attributes; bounds: number[] }[] = [];
  for (const body of receiver.bodies) {
    const parsed = JSON.parse(body) as OtlpMetrics;
    if (parsed.resourceMetrics === undefined) continue;
    const points = parsed.resourceMetrics.flatMap((rm) =>
      (rm.scopeMetrics ?? []).flatMap((sm) =>
        (sm.metrics ?? [])
          .filter((m) => m.name === 'http.server.request.duration')
          .flatMap((m) => m.histogram?.dataPoints ?? []),
      ),
    );
    latest = points.map((p) => ({ attributes: plain(p.attributes), bounds: p.explicitBounds ?? [] }));
  }
  return latest;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const sorted = (a: Attributes) => JSON.stringify(Object.fromEntries(Object.entries(a).sort()));

/** The requests both apps get: path, expected status, and whether it carries a traceparent. */
const REQUESTS = [
  { key: 'user', path: '/users/42?sig=secret-signature&x=1', status: 200, traceparent: true },
  { key: 'unavailable', path: '/status/503', status: 503, traceparent: false },
  { key: 'thrown', path: '/boom', status: 500, traceparent: false },
  { key: 'unrouted', path: '/no/such/path', status: 404, traceparent: false },
  { key: 'call', path: '/call', status: 200, traceparent: false },
] as const;

interface PathRun {
  readonly app: SidecarProcess;
  readonly receiver: OtlpReceiver;
  readonly port: number;
  /** The incoming trace context sent with the `user` request. */
  readonly traceId: string;
  readonly parentId: string;
  /** The one SERVER span of each request, by key. */
  readonly server: Record<(typeof REQUESTS)[number]['key'], Span>;
  readonly spans: Span[];
}

async function runPath(label: string, env: Record<string, string>): Promise<PathRun> {
  const receiver = await OtlpReceiver.start();
  const app = await startSidecarProcess(
    { fixture: 'hono-host-app.mjs' },
    {
      ...env,
      OTEL_SERVICE_NAME: `server-spans-${label}`,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      OTEL_BSP_SCHEDULE_DELAY: '50',
    },
  );
  const traceId = hex(16);
  const parentId = hex(8);
  for (const request of REQUESTS) {
    const res = await fetch(`${app.url}${request.path}`, {
      headers: {
        'x-correlation-id': `${label}-${request.key}`,
        'user-agent': 'server-spans-test/1.0',
        ...(request.traceparent ? { traceparent: `00-${traceId}-${parentId}-01` } : {}),
      },
    });
    await res.arrayBuffer();
    expect(res.status, request.path).toBe(request.status);
  }
  const server = await waitFor(
    () => {
      const spans = spansOf(receiver).filter((s) => s.kind === SERVER);
      const found = Object.fromEntries(
        REQUESTS.map((r) => [
          r.key,
          spans.filter((s) => s.attributes['correlation.id'] === `${label}-${r.key}`),
        ]),
      );
      // The nested GET /ok of /call too.
      const nested = spans.some((s) => s.name === 'GET /ok');
      return Object.values(found).every((list) => list.length > 0) && nested ? found : undefined;
    },
    { what: `the exported server spans of path ${label}` },
  );
  // Until the cumulative push holds every request's series.
  await waitFor(() => durationPointsOf(receiver).length >= REQUESTS.length + 1, {
    what: `http.server.request.duration of path ${label}`,
  });
  for (const [key, list] of Object.entries(server)) expect(list, `SERVER spans of ${key}`).toHaveLength(1);
  return {
    app,
    receiver,
    port: Number(new URL(app.url).port),
    traceId,
    parentId,
    server: Object.fromEntries(Object.entries(server).map(([k, list]) => [k, list[0]])) as PathRun['server'],
    spans: spansOf(receiver),
  };
}

/** A span's attributes without what differs by process or connection, checked on their own. */
function comparable(run: PathRun, span: Span): Attributes {
  const {
    'server.port': port,
    'network.peer.port': peerPort,
    'correlation.id': _id,
    ...rest
  } = span.attributes;
  expect(port).toBe(run.port);
  expect(peerPort).toBeTypeOf('number');
  return rest;
}

describe('HTTP server spans: instrumentation-http + middleware vs the middleware alone', () => {
  let a: PathRun;
  let b: PathRun;
  beforeAll(async () => {
    a = await runPath('instrumentation', {});
    b = await runPath('middleware', { PERF_HTTP_SERVER_SPANS: 'middleware' });
  }, 60_000);
  afterAll(async () => {
    for (const run of [a, b]) {
      await run?.app.stop();
      await run?.receiver.close();
    }
  });

  it('are made by instrumentation-http in (a) and by perf-sidecar in (b)', () => {
    for (const span of Object.values(a.server))
      expect(span.scope).toBe('@opentelemetry/instrumentation-http');
    for (const span of Object.values(b.server)) expect(span.scope).toBe('perf-sidecar');
  });

  it('have the same names, kinds, statuses and stable semantic-convention attributes', () => {
    for (const { key } of REQUESTS) {
      const [sa, sb] = [a.server[key], b.server[key]];
      expect({ key, name: sb.name, kind: sb.kind, status: sb.status }).toEqual({
        key,
        name: sa.name,
        kind: sa.kind,
        status: sa.status,
      });
      expect(comparable(b, sb), key).toEqual(comparable(a, sa));
    }
    const user = b.server.user;
    expect(user.name).toBe('GET /users/:id');
    expect(user.attributes).toMatchObject({
      'http.request.method': 'GET',
      'http.route': '/users/:id',
      'url.path': '/users/42',
      'url.scheme': 'http',
      'url.query': 'sig=REDACTED&x=1',
      'server.address': '127.0.0.1',
      'http.response.status_code': 200,
      'user_agent.original': 'server-spans-test/1.0',
      'network.protocol.version': '1.1',
      'client.address': '127.0.0.1',
    });
    expect(user.attributes['error.type']).toBeUndefined();
    expect(b.server.unavailable).toMatchObject({ status: STATUS_ERROR, attributes: { 'error.type': '503' } });
    expect(b.server.thrown).toMatchObject({ status: STATUS_ERROR, attributes: { 'error.type': '500' } });
    expect(b.server.unrouted.name).toBe('GET');
    expect(b.server.unrouted.attributes['http.route']).toBeUndefined();
  });

  it('continue the trace of an incoming traceparent', () => {
    for (const run of [a, b]) {
      expect(run.server.user.traceId).toBe(run.traceId);
      expect(run.server.user.parentSpanId).toBe(run.parentId);
      // Without one, a new trace.
      expect(run.server.unavailable.parentSpanId).toBe('');
    }
  });

  it('keep the client span of an outgoing node:http call, between the two server spans', () => {
    for (const run of [a, b]) {
      const call = run.server.call;
      const client = run.spans.find((s) => s.kind === CLIENT && s.parentSpanId === call.spanId);
      expect(client, 'the client span under GET /call').toBeDefined();
      expect(client?.scope).toBe('@opentelemetry/instrumentation-http');
      const nested = run.spans.find((s) => s.kind === SERVER && s.name === 'GET /ok');
      expect(nested?.traceId).toBe(call.traceId);
      expect(nested?.parentSpanId).toBe(client?.spanId);
    }
  });

  it('record http.server.request.duration with the same attribute sets and buckets', () => {
    const [pa, pb] = [durationPointsOf(a.receiver), durationPointsOf(b.receiver)];
    expect(pb.map((p) => sorted(p.attributes)).sort()).toEqual(pa.map((p) => sorted(p.attributes)).sort());
    expect(pb[0]?.bounds).toEqual(pa[0]?.bounds);
    expect(pb.map((p) => p.attributes)).toContainEqual({
      'http.request.method': 'GET',
      'url.scheme': 'http',
      'network.protocol.version': '1.1',
      'http.route': '/status/:code',
      'http.response.status_code': 503,
      'error.type': '503',
    });
  });
});
