import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { SpanKind } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  annotateSpan,
  createForwarder,
  type Forwarder,
  type ForwarderOptions,
} from '../../src/ingest/forward.ts';
import { otlpTypes } from '../../src/ingest/proto.ts';
import type { ProtoSpanTarget } from '../../src/ingest/types.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { OtlpProtoReceiver } from '../helpers/otlp-proto-receiver.ts';
import { waitFor } from '../helpers/wait.ts';
import { capturingLogger, decodedRequest, encodedMetrics } from './forward-helpers.ts';

const quiet = pino({ level: 'silent' });
const opened: { close(): Promise<void> }[] = [];
const forwarders: Forwarder[] = [];

afterEach(async () => {
  for (const forwarder of forwarders.splice(0)) await forwarder.close(100);
  for (const server of opened.splice(0)) await server.close();
});

async function receiver(): Promise<OtlpProtoReceiver> {
  const started = await OtlpProtoReceiver.start();
  opened.push(started);
  return started;
}

function forwarder(options: ForwarderOptions): Forwarder {
  const made = createForwarder({ logger: quiet, retryBaseDelayMs: 5, ...options });
  forwarders.push(made);
  return made;
}

/** Annotates every span of a request: a 0.2 s target, the first one over it. */
function annotateAll(spans: ProtoSpanTarget[]): void {
  spans.forEach((span, i) => {
    annotateSpan(span, { operation: `GET /orders/:id #${i}`, targetSeconds: 0.2, exceeded: i === 0 });
  });
}

describe('annotateSpan', () => {
  it('sets perf.operation and the target attributes, replacing target keys and keeping the others', () => {
    const span: ProtoSpanTarget = {
      attributes: [
        { key: 'perf.target_exceeded', value: { boolValue: false } },
        { key: 'http.route', value: { stringValue: '/a' } },
        { key: 'perf.target_seconds', value: { stringValue: 'soon' } },
      ],
    };
    annotateSpan(span, { operation: 'GET /a', targetSeconds: 0.5, exceeded: true });
    expect(span.attributes).toEqual([
      { key: 'http.route', value: { stringValue: '/a' } },
      { key: 'perf.operation', value: { stringValue: 'GET /a' } },
      { key: 'perf.target_seconds', value: { doubleValue: 0.5 } },
      { key: 'perf.target_exceeded', value: { boolValue: true } },
    ]);
    // Annotated again without a target: the operation written before is the span's now, and stays.
    annotateSpan(span, { operation: 'other', targetSeconds: undefined, exceeded: false });
    expect(span.attributes).toEqual([
      { key: 'http.route', value: { stringValue: '/a' } },
      { key: 'perf.operation', value: { stringValue: 'GET /a' } },
    ]);
  });

  it("keeps a span's own perf.operation untouched, even when the verdict reports it as _other", () => {
    const own = { key: 'perf.operation', value: { stringValue: 'Checkout: Pay (v2) ✓' } };
    const span: ProtoSpanTarget = {
      attributes: [own, { key: 'perf.target_seconds', value: { doubleValue: 9 } }],
    };
    annotateSpan(span, { operation: '_other', targetSeconds: 2, exceeded: false });
    expect(span.attributes).toEqual([
      { key: 'perf.operation', value: { stringValue: 'Checkout: Pay (v2) ✓' } },
      { key: 'perf.target_seconds', value: { doubleValue: 2 } },
      { key: 'perf.target_exceeded', value: { boolValue: false } },
    ]);
    expect(span.attributes[0]).toBe(own);
  });

  it('replaces a perf.operation that is not a string: the evaluator did not use it', () => {
    const span: ProtoSpanTarget = { attributes: [{ key: 'perf.operation', value: { intValue: 7 } }] };
    annotateSpan(span, { operation: 'render', targetSeconds: 1, exceeded: true });
    expect(span.attributes).toEqual([
      { key: 'perf.operation', value: { stringValue: 'render' } },
      { key: 'perf.target_seconds', value: { doubleValue: 1 } },
      { key: 'perf.target_exceeded', value: { boolValue: true } },
    ]);
  });
});

describe('forwarding over OTLP/HTTP protobuf', () => {
  it('delivers annotated spans with every original attribute, and the configured headers', async () => {
    const upstream = await receiver();
    const fwd = forwarder({ endpoint: upstream.url, headers: { 'X-Api-Key': 'k-1234567890' } });
    const { request, spans } = decodedRequest(['a', 'b']);
    annotateAll(spans);
    fwd.enqueue(request, 2);
    await waitFor(() => upstream.spans.length === 2, { what: 'the forwarded spans' });
    const [first, second] = upstream.spans;
    expect(first?.attributes).toEqual({
      'http.route': '/orders/:id',
      'http.response.status_code': 200,
      'cache.hit': true,
      tags: '["a","b"]',
      'perf.operation': 'GET /orders/:id #0',
      'perf.target_seconds': 0.2,
      'perf.target_exceeded': true,
    });
    expect(second?.attributes['perf.target_exceeded']).toBe(false);
    expect(first?.resource['service.name']).toBe('checkout');
    expect(upstream.contentTypes).toEqual(['application/x-protobuf']);
    expect(upstream.headers[0]?.['x-api-key']).toBe('k-1234567890');
    expect(upstream.headers[0]?.['user-agent']).toMatch(/^perf-sidecar\//);
    await waitFor(() => fwd.stats().spansForwarded === 2, { what: 'the count' });
  });

  it('forwards what the official exporter sent, decoded and annotated', async () => {
    const bodies: Buffer[] = [];
    const capture: HttpServer = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks));
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    await new Promise<void>((done) => capture.listen(0, '127.0.0.1', done));
    opened.push({ close: () => new Promise((done) => capture.close(() => done())) });
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': 'quotes' }),
      spanProcessors: [
        new SimpleSpanProcessor({
          exporter: new OTLPTraceExporter({
            url: `http://127.0.0.1:${(capture.address() as AddressInfo).port}/v1/traces`,
          }),
        }),
      ],
    });
    provider
      .getTracer('test')
      .startSpan('GetQuote', { kind: SpanKind.SERVER, attributes: { 'rpc.method': 'GetQuote', retries: 2 } })
      .end();
    await provider.forceFlush();
    await provider.shutdown();
    await waitFor(() => bodies.length === 1, { what: 'the exported request' });

    const { traceRequest } = otlpTypes();
    const request = traceRequest.decode(bodies[0] as Buffer) as unknown as {
      resourceSpans: { scopeSpans: { spans: ProtoSpanTarget[] }[] }[];
    };
    const span = request.resourceSpans[0]?.scopeSpans[0]?.spans[0] as ProtoSpanTarget;
    annotateSpan(span, { operation: 'GetQuote', targetSeconds: 2, exceeded: false });
    const upstream = await receiver();
    forwarder({ endpoint: upstream.url }).enqueue(request, 1);
    await waitFor(() => upstream.spans.length === 1, { what: 'the forwarded span' });
    expect(upstream.spans[0]).toMatchObject({
      name: 'GetQuote',
      kind: 2,
      resource: { 'service.name': 'quotes' },
      attributes: {
        'rpc.method': 'GetQuote',
        retries: 2,
        'perf.operation': 'GetQuote',
        'perf.target_seconds': 2,
        'perf.target_exceeded': false,
      },
    });
  });

  it('passes metrics on, to /v1/metrics, as they came', async () => {
    const upstream = await receiver();
    const fwd = forwarder({ endpoint: `${upstream.url}/` });
    const body = encodedMetrics(3);
    fwd.enqueueMetrics(body, 3);
    await waitFor(() => upstream.metricBodies.length === 1, { what: 'the metrics' });
    expect(upstream.metricBodies[0]?.equals(body)).toBe(true);
    await waitFor(() => fwd.stats().dataPointsForwarded === 3, { what: 'the count' });
  });

  it('retries after 503 (honouring Retry-After), then delivers', async () => {
    const upstream = await receiver();
    upstream.failNext(2, { status: 503, headers: { 'retry-after': '0' } });
    const fwd = forwarder({ endpoint: upstream.url });
    fwd.enqueue(decodedRequest(['a']).request, 1);
    await waitFor(() => fwd.stats().spansForwarded === 1, { what: 'the span, after the retries' });
    expect(upstream.spans).toHaveLength(1);
    expect(upstream.failed).toBe(2);
    expect(fwd.stats().retries).toBe(2);
    expect(fwd.stats().lastError?.message).toContain('answered HTTP 503');
  });

  it('drops a request the upstream refuses (400) at once, and counts it', async () => {
    const upstream = await receiver();
    upstream.failNext(1, { status: 400, body: 'bad span' });
    const fwd = forwarder({ endpoint: upstream.url });
    fwd.enqueue(decodedRequest(['a', 'b', 'c']).request, 3);
    await waitFor(() => fwd.stats().spansDropped.rejected === 3, { what: 'the drop' });
    expect(upstream.headers).toHaveLength(1);
    expect(fwd.stats()).toMatchObject({ spansForwarded: 0, retries: 0 });
    expect(fwd.stats().lastError?.message).toBe(`${upstream.url}/v1/traces answered HTTP 400: bad span`);
  });

  it('counts the spans an upstream refuses in a partial success', async () => {
    const upstream = await receiver();
    upstream.partialNext(1, 'span too large');
    const fwd = forwarder({ endpoint: upstream.url });
    fwd.enqueue(decodedRequest(['a', 'b', 'c']).request, 3);
    await waitFor(() => fwd.stats().spansForwarded === 2, { what: 'the partial success' });
    expect(fwd.stats().spansDropped.rejected).toBe(1);
    expect(fwd.stats().lastError?.message).toBe(`${upstream.url} refused part of a request: span too large`);
  });

  it('gives up after the last attempt, and counts it', async () => {
    const upstream = await receiver();
    upstream.failNext(10, { status: 502 });
    const fwd = forwarder({ endpoint: upstream.url, maxAttempts: 3 });
    fwd.enqueue(decodedRequest(['a', 'b']).request, 2);
    await waitFor(() => fwd.stats().spansDropped.retries_exhausted === 2, { what: 'the drop' });
    expect(upstream.failed).toBe(3);
  });

  it('drops the oldest queued requests when the queue is full, and counts them', async () => {
    const upstream = await receiver();
    upstream.hold();
    const fwd = forwarder({ endpoint: upstream.url, queueSpans: 10, concurrency: 2 });
    fwd.enqueue(decodedRequest(['a']).request, 1);
    fwd.enqueue(decodedRequest(['b']).request, 1);
    await waitFor(() => upstream.held === 2, { what: 'two requests in flight' });
    for (const name of ['c', 'd', 'e', 'f'])
      fwd.enqueue(decodedRequest([`${name}1`, `${name}2`, `${name}3`, `${name}4`]).request, 4);
    expect(fwd.stats()).toMatchObject({ queued: 8, queuedRequests: 2, inFlight: 2 });
    expect(fwd.stats().spansDropped.queue_full).toBe(8);
    upstream.release();
    await waitFor(() => upstream.spans.length === 10, { what: 'the kept spans' });
    expect(upstream.spans.map((s) => s.name[0]).join('')).toBe('abeeeeffff');
  });

  it('encodes a request when it is queued: what the caller changes afterwards is not sent', async () => {
    const upstream = await receiver();
    const fwd = forwarder({ endpoint: upstream.url });
    const { request, spans } = decodedRequest(['a']);
    annotateAll(spans);
    fwd.enqueue(request, 1);
    const size = otlpTypes().traceRequest.encode(request).finish().byteLength;
    expect(fwd.stats()).toMatchObject({ queued: 1, queuedBytes: size });
    // The decoded objects are not held: a change made now, before anything is sent, does not travel.
    (spans[0] as ProtoSpanTarget).attributes.length = 0;
    await waitFor(() => upstream.spans.length === 1, { what: 'the forwarded span' });
    expect(upstream.spans[0]?.attributes['perf.operation']).toBe('GET /orders/:id #0');
  });

  it('drops a request that cannot be encoded when it is queued, as invalid', () => {
    const fwd = forwarder({ endpoint: 'http://127.0.0.1:9' });
    fwd.enqueue({ resourceSpans: [null] }, 2);
    expect(fwd.stats()).toMatchObject({ queued: 0, queuedBytes: 0, queuedRequests: 0 });
    expect(fwd.stats().spansDropped.invalid).toBe(2);
    expect(fwd.stats().lastError?.message).toMatch(/^a request could not be encoded: /);
  });

  it('bounds the queue in bytes: the oldest requests go, and one larger than the bound at once', async () => {
    const upstream = await receiver();
    upstream.hold();
    const fwd = forwarder({ endpoint: upstream.url, queueBytes: 1024, concurrency: 2 });
    fwd.enqueue(decodedRequest(['a']).request, 1);
    fwd.enqueue(decodedRequest(['b']).request, 1);
    await waitFor(() => upstream.held === 2, { what: 'two requests in flight' });
    const bodies = ['m1', 'm2', 'm3', 'm4'].map((service) => encodedMetrics(10, service));
    const size = bodies[0]?.byteLength ?? 0;
    // Two fit in 1024 bytes, three do not.
    expect(2 * size <= 1024 && 3 * size > 1024).toBe(true);
    for (const body of bodies) fwd.enqueueMetrics(body, 10);
    expect(fwd.stats()).toMatchObject({ queued: 20, queuedBytes: 2 * size, queuedRequests: 2 });
    expect(fwd.stats().dataPointsDropped.queue_full).toBe(20);
    fwd.enqueueMetrics(encodedMetrics(40, 'huge'), 40);
    expect(fwd.stats().dataPointsDropped.queue_full).toBe(60);
    expect(fwd.stats().queuedBytes).toBe(2 * size);
    upstream.release();
    await waitFor(() => upstream.metricBodies.length === 2, { what: 'the kept metrics' });
    expect(upstream.metricBodies.map((b) => Buffer.compare(b, bodies[2] as Uint8Array))).toContain(0);
    expect(upstream.metricBodies.map((b) => Buffer.compare(b, bodies[3] as Uint8Array))).toContain(0);
    await waitFor(() => fwd.stats().dataPointsForwarded === 20 && fwd.stats().spansForwarded === 2, {
      what: 'the counts',
    });
    // Into an empty queue, a request larger than the bound still goes: it was accepted upstream of
    // here, and the bound is about what waits.
    await waitFor(() => fwd.stats().queuedRequests === 0 && fwd.stats().inFlight === 0, {
      what: 'an idle queue',
    });
    fwd.enqueueMetrics(encodedMetrics(40, 'huge'), 40);
    await waitFor(() => fwd.stats().dataPointsForwarded === 60, { what: 'the large request forwarded' });
    expect(fwd.stats().dataPointsDropped.queue_full).toBe(60);
  });

  it('sends what is queued when closed in time', async () => {
    const upstream = await receiver();
    const fwd = forwarder({ endpoint: upstream.url, concurrency: 1 });
    for (const name of ['a', 'b', 'c']) fwd.enqueue(decodedRequest([name]).request, 1);
    await fwd.close(5_000);
    expect(upstream.spans.map((s) => s.name)).toEqual(['a', 'b', 'c']);
    fwd.enqueue(decodedRequest(['late']).request, 1);
    expect(fwd.stats().spansDropped.closed).toBe(1);
  });

  it('never blocks enqueue on an upstream that never answers, and closes by its deadline', async () => {
    const sockets = new Set<Socket>();
    const silent: NetServer = createNetServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
    opened.push({
      close: () => {
        for (const socket of sockets) socket.destroy();
        return new Promise((done) => silent.close(() => done()));
      },
    });
    const endpoint = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    // The longest attempt allowed: were close() to wait for the attempts, the test would time out.
    const fwd = createForwarder({ endpoint, logger: quiet, timeoutMs: 120_000, queueSpans: 100 });
    for (let i = 0; i < 1_000; i++) fwd.enqueue(decodedRequest([`s${i}`]).request, 1);
    await waitFor(() => sockets.size > 0 && fwd.stats().inFlight === 2, { what: 'attempts under way' });
    // All 1000 were queued before the first two went out: the queue kept the newest 100.
    expect(fwd.stats().queued).toBe(98);
    expect(fwd.stats().spansDropped.queue_full).toBe(900);
    await fwd.close(200);
    expect(fwd.stats()).toMatchObject({ inFlight: 0, queued: 0, spansForwarded: 0 });
    expect(fwd.stats().spansDropped.closed).toBe(100);
  });
});

describe('secrets', () => {
  it('never shows header values or URL user information in errors or logs', async () => {
    const upstream = await receiver();
    const key = 'key-5e3c7a9b1d';
    const password = 'pw-9f8e7d6c5b';
    // An upstream that echoes what it was sent, as some do in their error messages.
    upstream.failNext(1, { status: 401, body: `invalid key ${key} for collector:${password}` });
    const { logger, lines } = capturingLogger();
    const endpoint = upstream.url.replace('http://', `http://collector:${password}@`);
    const fwd = createForwarder({ endpoint, headers: { 'x-api-key': key }, logger, retryBaseDelayMs: 5 });
    forwarders.push(fwd);
    fwd.enqueue(decodedRequest(['a']).request, 1);
    await waitFor(() => fwd.stats().spansDropped.rejected === 1, { what: 'the refusal' });
    // The secrets were sent (the header, and the URL's user information as Basic authorization) ...
    expect(upstream.headers[0]?.['x-api-key']).toBe(key);
    const basic = `Basic ${Buffer.from(`collector:${password}`).toString('base64')}`;
    expect(upstream.headers[0]?.authorization).toBe(basic);
    // ... and appear nowhere else.
    const error = fwd.stats().lastError?.message ?? '';
    expect(error).toBe(`${upstream.url}/v1/traces answered HTTP 401: invalid key *** for ***:***`);
    expect(lines.length).toBeGreaterThan(0);
    for (const text of [error, ...lines]) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(password);
      expect(text).not.toContain(basic);
    }
  });

  it('never echoes a bad endpoint or header value in an option error', () => {
    const attempt = (options: ForwarderOptions) => {
      try {
        createForwarder(options);
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidArgumentError);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    const scheme = attempt({ endpoint: 'ftp://user:hunter2-secret@host' });
    expect(scheme).toContain('options.endpoint');
    expect(scheme).not.toContain('hunter2-secret');
    const value = attempt({
      endpoint: 'http://collector:4318',
      headers: { 'x-api-key': 'top-secret\nvalue' },
    });
    expect(value).toContain('options.headers.x-api-key');
    expect(value).not.toContain('top-secret');
    expect(
      attempt({ endpoint: 'http://collector:4318', headers: { 'content-type': 'text/plain' } }),
    ).toContain('is the header name "content-type"');
  });

  it.each([
    ['http/protobuf', 'non-ASCII', 'key-sécret-5e3c7a'],
    ['grpc', 'non-ASCII', 'key-sécret-5e3c7a'],
    ['http/protobuf', 'a leading space', ' key-secret-5e3c7a'],
    ['grpc', 'a control character', 'key-secret-5e3c7a\u0007'],
  ] as const)('refuses a %s header value with %s, naming the header only', (protocol, _what, value) => {
    const { logger, lines } = capturingLogger();
    let error: unknown;
    try {
      createForwarder({
        endpoint: 'http://collector:4318',
        protocol,
        headers: { 'x-api-key': value },
        logger,
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(InvalidArgumentError);
    const message = (error as Error).message;
    expect(message).toContain('options.headers.x-api-key');
    expect(message).toContain('visible ASCII');
    for (const text of [message, ...lines]) expect(text).not.toContain('5e3c7a');
  });

  it.each(['http/protobuf', 'grpc'] as const)(
    'refuses over %s a header value with a tab (grpc-js would quote it in its error) without showing it',
    (protocol) => {
      const { logger, lines } = capturingLogger();
      const headers = { 'x-api-key': 'key\tsecret-5e3c7a' };
      let error: unknown;
      try {
        createForwarder({ endpoint: 'http://collector:4318', protocol, headers, logger });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(InvalidArgumentError);
      const message = (error as Error).message;
      expect(message).toContain('options.headers.x-api-key');
      for (const text of [message, ...lines]) expect(text).not.toContain('5e3c7a');
    },
  );
});
