/**
 * The OTLP/gRPC receiver with a grpc-js client sending raw bytes (so that it can send what an
 * exporter never would): size limits before and after gzip, garbage, the token, a full queue (with
 * the RetryInfo OTLP clients read), and partial success.
 */
import { type Client, status } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GRPC_METHODS } from '../../src/ingest/grpc-receiver.ts';
import { otlpTypes } from '../../src/ingest/proto.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  nowNs,
  rawClient,
  sendRaw as send,
  spans,
  startTestReceivers,
  statusOf,
  type TestReceivers,
  traceRequest,
  traceResponseOf,
} from './helpers.ts';

const TOKEN = 'grpc-token-0123456789abcdef';
const LIMIT = 256 * 1024;

describe('OTLP/gRPC receiver', () => {
  let t: TestReceivers;
  const clients: Client[] = [];
  const traces = (gzip = false) => {
    const client = rawClient(t.receivers.grpcAddress, GRPC_METHODS.traces, gzip);
    clients.push(client);
    return client;
  };

  beforeAll(async () => {
    t = await startTestReceivers({ token: TOKEN, maxBodyBytes: LIMIT, queueSpans: 10 });
  });
  afterEach(() => {
    t.release();
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await t.receivers.close();
  });

  it('accepts a request and answers partial success for the spans it rejects', async () => {
    const start = nowNs() - 1_000_000_000n;
    const body = traceRequest('grpc-svc', [
      { name: 'ok' },
      { name: 'backwards', startNs: start, endNs: start - 5n },
    ]);
    const { error, response } = await send(traces(), body, TOKEN);
    expect(error).toBeNull();
    expect(traceResponseOf(response as Buffer)).toEqual({
      partialSuccess: {
        rejectedSpans: '1',
        errorMessage: expect.stringMatching(
          /span 1 \(name "backwards"\) was rejected: it ends before it starts/,
        ),
      },
    });
    const span = await waitFor(() =>
      t.batches.flatMap((b) => b.spans).find((s) => s.view.service === 'grpc-svc'),
    );
    expect(span.view.name).toBe('ok');
  });

  it('answers UNAUTHENTICATED to a missing or wrong token', async () => {
    const body = traceRequest('grpc-auth', spans(1));
    for (const token of [undefined, 'wrong-token-0123456789abcdef']) {
      const { error } = await send(traces(), body, token);
      expect(error?.code).toBe(status.UNAUTHENTICATED);
      expect(error?.details).toBe(
        'missing or wrong bearer token; expected the metadata authorization: Bearer <token>',
      );
    }
  });

  it('refuses a call without the token on its metadata, before reading its message: UNAUTHENTICATED even past the size limit', async () => {
    const before = t.receivers.stats();
    // Four times the limit: had grpc-js read the message, it would have refused it for its size.
    const body = traceRequest('grpc-auth-big', [{ attributes: { payload: 'u'.repeat(4 * LIMIT) } }]);
    const { error } = await send(traces(), body);
    expect(error?.code).toBe(status.UNAUTHENTICATED);
    const after = t.receivers.stats();
    expect(after.refused.unauthorized).toBe(before.refused.unauthorized + 1);
    expect(after.refused.tooLarge).toBe(before.refused.tooLarge);
    expect(after.requests.grpc).toBe(before.requests.grpc + 1);
    // Its reservation of the in-flight budget was given back.
    expect(after.inflight.bytes).toBe(0);
  });

  it('answers INVALID_ARGUMENT to garbage, for traces and metrics', async () => {
    const metrics = rawClient(t.receivers.grpcAddress, GRPC_METHODS.metrics);
    clients.push(metrics);
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02]);
    const a = await send(traces(), garbage, TOKEN);
    expect(a.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(a.error?.details).toMatch(/^the body is not an OTLP trace request in protobuf: /);
    const b = await send(metrics, garbage, TOKEN);
    expect(b.error?.code).toBe(status.INVALID_ARGUMENT);
    expect(b.error?.details).toMatch(/^the body is not an OTLP metrics request in protobuf: /);
  });

  it('answers RESOURCE_EXHAUSTED to a message over the limit, and counts the call grpc-js refused', async () => {
    const before = t.receivers.stats();
    const body = traceRequest('grpc-big', [{ attributes: { payload: 'p'.repeat(LIMIT) } }]);
    const { error } = await send(traces(), body, TOKEN);
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error?.details).toMatch(/larger than max/);
    const after = await waitFor(() => {
      const stats = t.receivers.stats();
      return stats.refused.tooLarge === before.refused.tooLarge + 1 ? stats : undefined;
    });
    expect(after.requests.grpc).toBe(before.requests.grpc + 1);
    expect(after.inflight.bytes).toBe(0);
  });

  it('applies the limit after gzip decompression too: a small compressed message that expands past it is refused', async () => {
    const body = traceRequest('grpc-bomb', [{ attributes: { payload: 'z'.repeat(4 * LIMIT) } }]);
    const before = t.spanCount();
    const { error } = await send(traces(true), body, TOKEN);
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error?.details).toBe(`Received message that decompresses to a size larger than ${LIMIT}`);
    // A compressed message under the limit once decompressed goes through.
    const fine = traceRequest('grpc-gzip', [{ attributes: { payload: 'z'.repeat(LIMIT / 2) } }]);
    const ok = await send(traces(true), fine, TOKEN);
    expect(ok.error).toBeNull();
    await waitFor(() => t.spanCount() === before + 1);
  });

  it('answers RESOURCE_EXHAUSTED with a RetryInfo when the queue is full, and evaluates every accepted span once it drains', async () => {
    const before = t.spanCount();
    const accepted = t.receivers.stats().spans.accepted;
    t.hold();
    for (let i = 0; i < 5; i++) {
      const { error } = await send(traces(), traceRequest('grpc-flood', spans(2)), TOKEN);
      expect(error).toBeNull();
    }
    const { error } = await send(traces(), traceRequest('grpc-flood', spans(1)), TOKEN);
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error?.details).toBe('the receiver is busy: its queue of spans to evaluate is full; retry later');
    const [details] = error?.metadata.get('grpc-status-details-bin') ?? [];
    const rpcStatus = statusOf(details as Buffer);
    expect(rpcStatus.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(rpcStatus.details?.[0]?.type_url).toBe('type.googleapis.com/google.rpc.RetryInfo');
    const retryInfo = otlpTypes().retryInfo;
    const retry = retryInfo.toObject(retryInfo.decode(rpcStatus.details?.[0]?.value as Uint8Array), {
      longs: Number,
    });
    expect(retry).toEqual({ retryDelay: { seconds: 1 } });

    t.release();
    await waitFor(() => t.spanCount() === before + 10);
    expect(t.receivers.stats().spans.accepted).toBe(accepted + 10);
    // Room again.
    expect((await send(traces(), traceRequest('grpc-flood', spans(1)), TOKEN)).error).toBeNull();
  });

  it('answers RESOURCE_EXHAUSTED without RetryInfo to a request larger than the queue could ever hold', async () => {
    const { error } = await send(traces(), traceRequest('grpc-huge-batch', spans(11)), TOKEN);
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error?.details).toBe(
      "the request holds 11 spans, more than the receiver's queue holds (10); send smaller batches",
    );
    expect(error?.metadata.get('grpc-status-details-bin')).toEqual([]);
  });
});
