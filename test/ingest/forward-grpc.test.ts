import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { status } from '@grpc/grpc-js';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  annotateSpan,
  createForwarder,
  type Forwarder,
  type ForwarderOptions,
} from '../../src/ingest/forward.ts';
import { otlpTypes } from '../../src/ingest/proto.ts';
import { OtlpGrpcReceiver } from '../helpers/otlp-grpc-receiver.ts';
import { waitFor } from '../helpers/wait.ts';
import { capturingLogger, decodedRequest, encodedMetrics } from './forward-helpers.ts';

const quiet = pino({ level: 'silent' });
const receivers: OtlpGrpcReceiver[] = [];
const forwarders: Forwarder[] = [];

afterEach(async () => {
  for (const forwarder of forwarders.splice(0)) await forwarder.close(100);
  for (const receiver of receivers.splice(0)) await receiver.close();
});

async function receiver(): Promise<OtlpGrpcReceiver> {
  const started = await OtlpGrpcReceiver.start();
  receivers.push(started);
  return started;
}

function forwarder(options: ForwarderOptions): Forwarder {
  const made = createForwarder({ logger: quiet, protocol: 'grpc', retryBaseDelayMs: 5, ...options });
  forwarders.push(made);
  return made;
}

/**
 * An encoded `google.rpc.Status`, as servers send it in the `grpc-status-details-bin` trailer, with
 * a `RetryInfo` asking for `retryDelayMs` when given (and a detail of another type either way).
 */
function statusDetails(code: number, retryDelayMs?: number): Uint8Array {
  const { status: statusType, retryInfo } = otlpTypes();
  const details: { type_url: string; value: Uint8Array }[] = [
    { type_url: 'type.googleapis.com/google.rpc.DebugInfo', value: new Uint8Array(0) },
  ];
  if (retryDelayMs !== undefined) {
    const retryDelay = { seconds: Math.floor(retryDelayMs / 1000), nanos: (retryDelayMs % 1000) * 1e6 };
    details.push({
      type_url: 'type.googleapis.com/google.rpc.RetryInfo',
      value: retryInfo.encode({ retryDelay }).finish(),
    });
  }
  return statusType.encode({ code, message: 'slow down', details }).finish();
}

describe('forwarding over OTLP/gRPC', () => {
  it('delivers annotated spans with every original attribute, and the headers as metadata', async () => {
    const upstream = await receiver();
    const fwd = forwarder({ endpoint: upstream.url, headers: { 'X-Api-Key': 'k-1234567890' } });
    const { request, spans } = decodedRequest(['a', 'b'], 'quotes');
    spans.forEach((span, i) => {
      annotateSpan(span, { operation: 'GetQuote', targetSeconds: 2, exceeded: i === 1 });
    });
    fwd.enqueue(request, 2);
    await waitFor(() => upstream.spans.length === 2, { what: 'the forwarded spans' });
    expect(upstream.calls).toEqual(['/opentelemetry.proto.collector.trace.v1.TraceService/Export']);
    expect(upstream.spans[1]).toMatchObject({
      name: 'b',
      resource: { 'service.name': 'quotes' },
      attributes: {
        'http.route': '/orders/:id',
        'http.response.status_code': 200,
        'cache.hit': true,
        tags: '["a","b"]',
        'perf.operation': 'GetQuote',
        'perf.target_seconds': 2,
        'perf.target_exceeded': true,
      },
    });
    expect(upstream.metadata[0]?.['x-api-key']).toBe('k-1234567890');
    await waitFor(() => fwd.stats().spansForwarded === 2, { what: 'the count' });
  });

  it('passes metrics on to the metrics service', async () => {
    const upstream = await receiver();
    const fwd = forwarder({ endpoint: upstream.url });
    fwd.enqueueMetrics(encodedMetrics(2, 'billing'), 2);
    await waitFor(() => upstream.metrics.length === 1, { what: 'the metrics' });
    expect(upstream.metrics).toEqual([{ name: 'queue.depth', service: 'billing' }]);
    await waitFor(() => fwd.stats().dataPointsForwarded === 2, { what: 'the count' });
  });

  it('retries after UNAVAILABLE and CANCELLED, then delivers', async () => {
    const upstream = await receiver();
    upstream.failNext(1, { code: status.UNAVAILABLE, details: 'restarting' });
    upstream.failNext(1, { code: status.CANCELLED, details: 'going away' });
    const fwd = forwarder({ endpoint: upstream.url });
    fwd.enqueue(decodedRequest(['a']).request, 1);
    await waitFor(() => fwd.stats().spansForwarded === 1, { what: 'the span, after the retries' });
    expect(upstream.spans).toHaveLength(1);
    expect(upstream.failed).toBe(2);
    expect(fwd.stats().retries).toBe(2);
  });

  it('retries RESOURCE_EXHAUSTED that carries RetryInfo, after the delay it asks for', async () => {
    const upstream = await receiver();
    const code = status.RESOURCE_EXHAUSTED;
    upstream.failNext(1, { code, details: 'slow down', statusDetails: statusDetails(code, 600) });
    // A backoff of 5 ms: only the RetryInfo can make the retry wait longer.
    const fwd = forwarder({ endpoint: upstream.url, retryBaseDelayMs: 5 });
    const started = performance.now();
    fwd.enqueue(decodedRequest(['a']).request, 1);
    await waitFor(() => fwd.stats().spansForwarded === 1, { what: 'the span, after the retry' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(590);
    expect(upstream.failed).toBe(1);
    expect(fwd.stats().retries).toBe(1);
  });

  it.each([
    ['without status details', undefined],
    ['with status details but no RetryInfo', statusDetails(status.RESOURCE_EXHAUSTED)],
  ])('drops RESOURCE_EXHAUSTED %s at once (not retryable, as the OTLP spec says)', async (_what, details) => {
    const upstream = await receiver();
    upstream.failNext(1, {
      code: status.RESOURCE_EXHAUSTED,
      details: 'quota spent',
      ...(details ? { statusDetails: details } : {}),
    });
    const fwd = forwarder({ endpoint: upstream.url });
    fwd.enqueue(decodedRequest(['a', 'b']).request, 2);
    await waitFor(() => fwd.stats().spansDropped.rejected === 2, { what: 'the drop' });
    expect(upstream.calls).toHaveLength(1);
    expect(fwd.stats().retries).toBe(0);
    expect(fwd.stats().lastError?.message).toBe(
      `${upstream.url} (gRPC) answered RESOURCE_EXHAUSTED: quota spent`,
    );
  });

  it('drops a call the upstream refuses (INVALID_ARGUMENT) at once, and counts it', async () => {
    const upstream = await receiver();
    upstream.failNext(1, { code: status.INVALID_ARGUMENT, details: 'bad span' });
    const fwd = forwarder({ endpoint: upstream.url });
    fwd.enqueue(decodedRequest(['a', 'b']).request, 2);
    await waitFor(() => fwd.stats().spansDropped.rejected === 2, { what: 'the drop' });
    expect(upstream.calls).toHaveLength(1);
    expect(fwd.stats().lastError?.message).toBe(`${upstream.url} (gRPC) answered INVALID_ARGUMENT: bad span`);
  });

  it('gives up on an absent upstream after the last attempt, without showing secrets', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe: Server = createServer();
    await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((done) => probe.close(() => done()));
    const { logger, lines } = capturingLogger();
    const fwd = createForwarder({
      endpoint: `http://token-abcdef123456@127.0.0.1:${port}`,
      protocol: 'grpc',
      headers: { 'x-api-key': 'key-5e3c7a9b1d' },
      logger,
      maxAttempts: 2,
      retryBaseDelayMs: 5,
    });
    forwarders.push(fwd);
    fwd.enqueue(decodedRequest(['a']).request, 1);
    await waitFor(() => fwd.stats().spansDropped.retries_exhausted === 1, { what: 'the drop' });
    const error = fwd.stats().lastError?.message ?? '';
    expect(error).toContain(`http://127.0.0.1:${port} (gRPC) answered UNAVAILABLE`);
    for (const text of [error, ...lines]) {
      expect(text).not.toContain('token-abcdef123456');
      expect(text).not.toContain('key-5e3c7a9b1d');
    }
  });
});
