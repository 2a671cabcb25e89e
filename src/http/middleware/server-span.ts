/**
 * The HTTP server span and the `http.server.request.duration` record that the middleware makes
 * itself with `serverSpans: 'middleware'`: what instrumentation-http makes for an incoming request
 * (stable HTTP semantic conventions: the same name, kind, attributes, status and metric attributes,
 * the parent taken from the incoming headers through the configured propagator), without its
 * generic per-request work: no wrapped `emit`, no `new URL()` for an ordinary path, no context
 * bound onto the request and response emitters, and the route known when the span starts.
 *
 * Under `@hono/node-server` the Node request and response are read directly and the span ends
 * when the response closes, as instrumentation-http's does; on another runtime (or `app.request()`)
 * it is built from the `Request` and ends when the middleware returns.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import {
  type Attributes,
  type Histogram,
  metrics,
  type Context as OtelContext,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type Tracer,
  trace,
  ValueType,
} from '@opentelemetry/api';
import { RPCType, setRPCMetadata } from '@opentelemetry/core';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
  METRIC_HTTP_SERVER_REQUEST_DURATION,
} from '@opentelemetry/semantic-conventions';
import type { Context } from 'hono';
import { layeredContext } from '../../shared/layered-context.ts';
import { SCOPE_NAME, VERSION } from '../../shared/scope.ts';
import {
  ATTR_CORRELATION_ID,
  type OperationMetricSink,
  SeriesByContents,
  type ValueRecorder,
  withCorrelationIdIn,
} from '../../telemetry/internal.ts';
import type { RouteFacts } from './routes.ts';
import { setOwnAttribute, setOwnAttributes } from './span-attributes.ts';

/**
 * Bucket boundaries of `http.server.request.duration`, seconds: the semantic conventions' advice,
 * which instrumentation-http uses too (so both paths' histograms line up bucket for bucket).
 */
export const HTTP_SERVER_DURATION_BOUNDARIES: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/** Query parameters whose values are replaced, as instrumentation-http does by default. */
const REDACTED_QUERY_PARAMETERS = [
  'sig',
  'Signature',
  'AWSAccessKeyId',
  'X-Goog-Signature',
  'X-Amz-Signature',
  'X-Amz-Credential',
  'X-Amz-Security-Token',
];

/** A request target that needs no normalising: `new URL()` would give back the same path. */
const PLAIN_TARGET = /^\/[!#$&-;=?-[\]_a-z~]*$/;
const DOT_SEGMENT = /\/\.\.?(?:[/?#]|$)/;

/** The Node request and response `@hono/node-server` passes as the app's `env`. */
export interface NodeBindings {
  readonly incoming: IncomingMessage;
  readonly outgoing: ServerResponse;
}

/** `c.env` when it holds `@hono/node-server`'s Node request and response. */
export function nodeBindingsOf(env: unknown): NodeBindings | undefined {
  if (typeof env !== 'object' || env === null) return undefined;
  const { incoming, outgoing } = env as Partial<NodeBindings>;
  return typeof outgoing?.setHeader === 'function' && typeof incoming?.headers === 'object'
    ? (env as NodeBindings)
    : undefined;
}

/** Reads a `Headers` as the propagators' carrier (a Node request's headers object needs none). */
const headersGetter: TextMapGetter<Headers> = {
  get: (carrier, key) => carrier.get(key) ?? undefined,
  keys: (carrier) => [...carrier.keys()],
};

/** One header of a Node request, the first one when repeated. */
function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** `?a=1&sig=x` as instrumentation-http records it: re-encoded, signature values replaced. */
function redactedQuery(search: string): string {
  const params = new URLSearchParams(search);
  for (const name of REDACTED_QUERY_PARAMETERS) if (params.has(name)) params.set(name, 'REDACTED');
  return params.toString();
}

/**
 * The parameters of the first `Forwarded` element (RFC 7239) that has `name`, unquoted, names in
 * lower case: `for=192.0.2.1;proto=https, for=...` gives `{ for: '192.0.2.1', proto: 'https' }`.
 */
function forwardedElement(forwarded: string, name: 'host' | 'for'): Record<string, string> | undefined {
  for (const element of forwarded.split(',')) {
    const parameters: Record<string, string> = {};
    for (const pair of element.split(';')) {
      const at = pair.indexOf('=');
      if (at <= 0) continue;
      const value = pair.slice(at + 1).trim();
      parameters[pair.slice(0, at).trim().toLowerCase()] =
        value.length > 1 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
    }
    if (parameters[name] !== undefined) return parameters;
  }
  return undefined;
}

/** `host[:port]` split as instrumentation-http splits it, the port defaulting by scheme. */
function hostAndPort(host: string, scheme: string | undefined): [string, number | undefined] {
  const defaultPort = scheme === 'https' ? 443 : scheme === 'http' ? 80 : undefined;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    const port = host.slice(close + 1);
    return port.startsWith(':') ? [host.slice(0, close + 1), Number(port.slice(1))] : [host, defaultPort];
  }
  const colon = host.indexOf(':');
  if (colon === -1) return [host, defaultPort];
  if (host.indexOf(':', colon + 1) !== -1) return [host, undefined];
  return [host.slice(0, colon), Number(host.slice(colon + 1))];
}

/** `server.address` and `server.port`: Forwarded host, else X-Forwarded-Host, else Host. */
function serverOf(headers: IncomingHttpHeaders, scheme: string): [string, number | undefined] | undefined {
  const forwarded = header(headers, 'forwarded');
  const element = forwarded === undefined ? undefined : forwardedElement(forwarded, 'host');
  if (element?.host !== undefined) return hostAndPort(element.host, element.proto);
  const xHost = header(headers, 'x-forwarded-host');
  if (xHost !== undefined) return hostAndPort(xHost, header(headers, 'x-forwarded-proto'));
  const host = headers.host;
  return host !== undefined && host.length > 0 ? hostAndPort(host, scheme) : undefined;
}

/** An address without its port (`[::1]:80` gives `::1`). */
function withoutPort(address: string): string {
  try {
    const { hostname } = new URL(`http://${address}`);
    return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  } catch {
    return address;
  }
}

/** `client.address`: Forwarded for, else the first X-Forwarded-For entry, else the peer. */
function clientOf(headers: IncomingHttpHeaders, peer: string | undefined): string | undefined {
  const forwarded = header(headers, 'forwarded');
  const forwardedFor = forwarded === undefined ? undefined : forwardedElement(forwarded, 'for')?.for;
  if (forwardedFor !== undefined) return withoutPort(forwardedFor);
  const xFor = header(headers, 'x-forwarded-for');
  if (xFor !== undefined) return withoutPort((xFor.split(',')[0] ?? '').trim());
  return peer;
}

/** A request span's attributes: strings and numbers only, `undefined` for none. */
type SpanAttributes = Record<string, string | number | undefined>;

/** The span attributes of a request under `@hono/node-server`. */
function nodeAttributes(
  incoming: IncomingMessage,
  facts: RouteFacts,
  scheme: string,
  correlationId: string,
): SpanAttributes {
  const { headers, socket } = incoming;
  const target = incoming.url ?? '/';
  let path: string;
  let search: string;
  if (PLAIN_TARGET.test(target) && !DOT_SEGMENT.test(target)) {
    const query = target.indexOf('?');
    path = query === -1 ? target : target.slice(0, query);
    search = query === -1 ? '' : target.slice(query + 1);
  } else {
    // Dot segments, percent-encoding to add, an absolute target: what instrumentation-http's
    // `new URL()` makes of them.
    const url = new URL(target, 'http://localhost');
    path = url.pathname;
    search = url.search.slice(1);
  }
  const server = serverOf(headers, scheme);
  const peer = socket?.remoteAddress;
  const attributes: SpanAttributes = {
    [ATTR_HTTP_REQUEST_METHOD]: facts.semconvMethod,
    [ATTR_URL_SCHEME]: scheme,
    [ATTR_URL_PATH]: path,
    [ATTR_SERVER_ADDRESS]: server?.[0],
    [ATTR_SERVER_PORT]: server?.[1],
    [ATTR_NETWORK_PEER_ADDRESS]: peer,
    [ATTR_NETWORK_PEER_PORT]: socket?.remotePort,
    [ATTR_NETWORK_PROTOCOL_VERSION]: incoming.httpVersion,
    [ATTR_USER_AGENT_ORIGINAL]: headers['user-agent'],
    [ATTR_CLIENT_ADDRESS]: clientOf(headers, peer),
    [ATTR_HTTP_ROUTE]: facts.route,
    [ATTR_CORRELATION_ID]: correlationId,
  };
  if (search.length > 0) attributes[ATTR_URL_QUERY] = redactedQuery(search);
  if (facts.semconvMethod !== facts.method) attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = facts.method;
  return attributes;
}

/** The span attributes from the `Request` alone (another runtime, or `app.request()`). */
function requestAttributes(c: Context, facts: RouteFacts, correlationId: string): SpanAttributes {
  const url = new URL(c.req.url);
  const scheme = url.protocol.slice(0, -1);
  const attributes: SpanAttributes = {
    [ATTR_HTTP_REQUEST_METHOD]: facts.semconvMethod,
    [ATTR_URL_SCHEME]: scheme,
    [ATTR_URL_PATH]: url.pathname,
    [ATTR_SERVER_ADDRESS]: url.hostname,
    [ATTR_SERVER_PORT]: url.port === '' ? (scheme === 'https' ? 443 : 80) : Number(url.port),
    [ATTR_USER_AGENT_ORIGINAL]: c.req.header('user-agent'),
    [ATTR_HTTP_ROUTE]: facts.route,
    [ATTR_CORRELATION_ID]: correlationId,
  };
  if (url.search.length > 1) attributes[ATTR_URL_QUERY] = redactedQuery(url.search.slice(1));
  if (facts.semconvMethod !== facts.method) attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = facts.method;
  return attributes;
}

/** The span options: the same for every request. */
const SERVER_SPAN = Object.freeze({ kind: SpanKind.SERVER });

/** Most `http.server.request.duration` series kept per route (by status and protocol). */
const MAX_ROUTE_SERIES = 64;

/** The instrument as instrumentation-http defines it (name, unit, description, buckets). */
const DURATION_DEFINITION = {
  name: METRIC_HTTP_SERVER_REQUEST_DURATION,
  description: 'Duration of HTTP server requests.',
  unit: 's',
  boundaries: HTTP_SERVER_DURATION_BOUNDARIES,
} as const;

/**
 * A small number for the protocols whose metric attribute sets are kept (part of their key), -1
 * for any other: HTTP/1.1, 2.0 and 1.0, plain or TLS.
 */
function protocolKey(scheme: string, version: string | undefined): number {
  const tls = scheme === 'https' ? 1 : scheme === 'http' ? 0 : -1;
  const index = version === '1.1' ? 0 : version === '2.0' ? 2 : version === '1.0' ? 4 : -1;
  return tls === -1 || index === -1 ? -1 : index + tls;
}

// The `http.server.request.duration` series of one metric store are found by attribute contents
// (SeriesByContents) and shared by every middleware on that store, so that two of them (two apps,
// one telemetry) recording the same set record into one series, as the SDK merges equal sets.
// Looked up once per route, status and protocol (the route facts keep what it gives), or per
// request for a set no route keeps.

/** The series table of each metric store (a store outlives no telemetry, nor the table it). */
const tables = new WeakMap<OperationMetricSink, SeriesByContents>();

/**
 * How `http.server.request.duration` series are made: in the telemetry's own store when it has one
 * (a series per frozen set, recorded with a few additions), else over an SDK histogram of the
 * global meter provider (whose `record` hashes the set once per metric reader).
 */
function durationSeriesOf(store: OperationMetricSink | undefined): SeriesByContents {
  if (store !== undefined) {
    let table = tables.get(store);
    if (table === undefined) {
      const histogram = store.histogram(DURATION_DEFINITION);
      table = new SeriesByContents((attributes) => histogram.series(attributes));
      tables.set(store, table);
    }
    return table;
  }
  // The global provider: the one startTelemetry registered (a no-op before, as for any API user).
  const histogram: Histogram = metrics
    .getMeter(SCOPE_NAME, VERSION)
    .createHistogram(DURATION_DEFINITION.name, {
      description: DURATION_DEFINITION.description,
      unit: DURATION_DEFINITION.unit,
      valueType: ValueType.DOUBLE,
      advice: { explicitBucketBoundaries: [...HTTP_SERVER_DURATION_BOUNDARIES] },
    });
  return new SeriesByContents((attributes) => ({ record: (value) => histogram.record(value, attributes) }));
}

/** Makes the server spans and duration records of the requests through one middleware. */
export class ServerSpans {
  readonly #tracer: Tracer;
  readonly #series: SeriesByContents;

  /**
   * @param store the telemetry's own metric store (`Telemetry.metricStore`), which the duration is
   *   recorded into; without one, an SDK histogram of the global meter provider.
   */
  constructor(store: OperationMetricSink | undefined) {
    // The global provider: the one startTelemetry registered (a no-op before, as for any API user).
    this.#tracer = trace.getTracer(SCOPE_NAME, VERSION);
    this.#series = durationSeriesOf(store);
  }

  /**
   * Starts the SERVER span of a request, a child of the context its headers carry (W3C
   * `traceparent` or whatever propagator is configured) over `active`, with its correlation id.
   *
   * @returns the span and the context to run the request in (the span active, with the id).
   */
  start(
    c: Context,
    facts: RouteFacts,
    node: NodeBindings | undefined,
    active: OtelContext,
    correlationId: string,
  ): { span: Span; context: OtelContext } {
    let parent: OtelContext;
    let attributes: SpanAttributes;
    if (node) {
      const scheme = (node.incoming.socket as { encrypted?: boolean } | null)?.encrypted ? 'https' : 'http';
      parent = propagation.extract(active, node.incoming.headers);
      attributes = nodeAttributes(node.incoming, facts, scheme, correlationId);
    } else {
      parent = propagation.extract(active, c.req.raw.headers, headersGetter);
      attributes = requestAttributes(c, facts, correlationId);
    }
    // The attributes are set after the start, not given to it: the SDK checks and copies start
    // attributes twice (once for the sampler), and perf-sidecar's samplers never read them. Set
    // without the SDK's per-value check: they are strings and numbers built here.
    const span = this.#tracer.startSpan(facts.name, SERVER_SPAN, parent);
    setOwnAttributes(span, attributes);
    // Registered as the request's HTTP RPC metadata, as instrumentation-http registers its own, so
    // a second performance middleware on the same request (a mounted sub-app's) reuses this span
    // instead of starting another one and recording the request twice. The correlation id goes in
    // too (tracked operations inherit it): three values, one context.
    const request = layeredContext(parent, (draft) =>
      withCorrelationIdIn(
        setRPCMetadata(trace.setSpan(draft, span), { type: RPCType.HTTP, span }),
        correlationId,
      ),
    );
    return { span, context: request };
  }

  /**
   * Ends the span when the Node response closes (the body written, or the client gone), as
   * instrumentation-http does, so that a streamed body counts: its status is the one sent.
   */
  endOnClose(node: NodeBindings, span: Span, facts: RouteFacts, started: number): void {
    const { incoming, outgoing } = node;
    // `on`, not `once`: a response closes once, and `once` wraps the listener per request.
    outgoing.on('close', () => {
      const scheme = (incoming.socket as { encrypted?: boolean } | null)?.encrypted ? 'https' : 'http';
      this.end(span, facts, started, outgoing.statusCode, scheme, incoming.httpVersion);
    });
  }

  /**
   * Ends the span with the response status (ERROR from 500, and outside 100-599) and records the
   * duration since `started` (a `performance.now()`).
   */
  end(
    span: Span,
    facts: RouteFacts,
    started: number,
    status: number,
    scheme: string,
    version: string | undefined,
  ): void {
    setOwnAttribute(span, ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    const errorType = status >= 500 && status < 600 ? String(status) : undefined;
    if (errorType !== undefined) setOwnAttribute(span, ATTR_ERROR_TYPE, errorType);
    if (!(status >= 100 && status < 500)) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
    this.#durationSeries(facts, status, errorType, scheme, version).record(
      (performance.now() - started) / 1000,
    );
  }

  /**
   * The `http.server.request.duration` series of a request: kept on the route's facts by status
   * and protocol, so a request looks up one number in one small map.
   */
  #durationSeries(
    facts: RouteFacts,
    status: number,
    errorType: string | undefined,
    scheme: string,
    version: string | undefined,
  ): ValueRecorder {
    const protocol = protocolKey(scheme, version);
    const key = protocol === -1 ? -1 : protocol * 1000 + status;
    const byKey = facts.durationSeries;
    const kept = key === -1 ? undefined : byKey?.get(key);
    if (kept !== undefined) return kept;
    const series = this.#series.of(metricAttributes(facts, status, errorType, scheme, version));
    if (key !== -1 && byKey !== undefined && byKey.size < MAX_ROUTE_SERIES) byKey.set(key, series);
    return series;
  }
}

/**
 * The `http.server.request.duration` attributes instrumentation-http records: method, scheme,
 * protocol version, route, status, `error.type` from 500. Frozen: the SDK keeps a series'
 * attribute object as given, and the store knows a series by its set's identity.
 */
function metricAttributes(
  facts: RouteFacts,
  status: number,
  errorType: string | undefined,
  scheme: string,
  version: string | undefined,
): Attributes {
  const built: Attributes = {
    [ATTR_HTTP_REQUEST_METHOD]: facts.semconvMethod,
    [ATTR_URL_SCHEME]: scheme,
  };
  if (version) built[ATTR_NETWORK_PROTOCOL_VERSION] = version;
  if (facts.route !== undefined) built[ATTR_HTTP_ROUTE] = facts.route;
  built[ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
  if (errorType !== undefined) built[ATTR_ERROR_TYPE] = errorType;
  return Object.freeze(built);
}
