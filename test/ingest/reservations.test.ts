/**
 * How requests reserve the in-flight budget: a first step when their size is not known (gzip and
 * chunked OTLP/HTTP bodies, every OTLP/gRPC call), grown as their bytes arrive, so that many small
 * requests fit at once and a body that outgrows the room left is refused (429, RESOURCE_EXHAUSTED);
 * and the read deadline of an OTLP/gRPC call whose message does not come. Requests are held in
 * flight by raw sockets (HTTP/1.1) and raw HTTP/2 streams (gRPC) that send their headers first.
 */
import { type ClientHttp2Session, type ClientHttp2Stream, connect as connectHttp2 } from 'node:http2';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { type Client, status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { RESERVATION_STEP_BYTES } from '../../src/ingest/budget.ts';
import { GRPC_METHODS } from '../../src/ingest/grpc-receiver.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  curl,
  PROTOBUF,
  rawClient,
  sendRaw,
  spans,
  startTestReceivers,
  statusOf,
  type TestReceivers,
  traceRequest,
} from './helpers.ts';

/** Body limit: sixteen first steps, so that the budget (two limits) could hold 32 small requests. */
const LIMIT = 16 * RESERVATION_STEP_BYTES;
const BUSY = 'the receiver is busy: too many requests are being read at once; retry later';

let running: TestReceivers | undefined;
const sockets: Socket[] = [];
const sessions: ClientHttp2Session[] = [];
const clients: Client[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of sessions.splice(0)) s.destroy();
  for (const c of clients.splice(0)) c.close();
  await running?.receivers.close();
  running = undefined;
});

/** Receivers with a budget of two body limits. */
async function start(options: { readTimeoutMs?: number } = {}): Promise<TestReceivers> {
  running = await startTestReceivers({ maxBodyBytes: LIMIT, maxInflightBytes: 2 * LIMIT, ...options });
  return running;
}

/** A raw HTTP/1.1 connection to `url`, with everything it has received so far. */
function rawSocket(url: string): { socket: Socket; received: () => string; host: string } {
  const { hostname, port, host } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => undefined);
  sockets.push(socket);
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  return { socket, received: () => received, host };
}

/** A POST whose headers declare `length` identity body bytes, of which only the first ten are sent. */
function stalledPost(url: string, length: number): void {
  const { socket, host } = rawSocket(url);
  socket.write(
    `POST /v1/traces HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/x-protobuf\r\nContent-Length: ${length}\r\n\r\n0123456789`,
  );
}

/** Holds 1.5 body limits of the budget (two limits) with stalled identity bodies. */
async function holdBudget(t: TestReceivers): Promise<void> {
  stalledPost(t.receivers.httpUrl, LIMIT);
  stalledPost(t.receivers.httpUrl, LIMIT / 2);
  await waitFor(() => t.receivers.stats().inflight.bytes === LIMIT + LIMIT / 2, { what: 'the budget held' });
}

/** A gRPC message frame: uncompressed flag, length, bytes. */
function grpcFrame(message: Uint8Array): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

/** An OTLP/gRPC trace call on a raw HTTP/2 stream (headers sent, no message yet) and its grpc-status. */
function grpcStream(address: string): { stream: ClientHttp2Stream; status: Promise<number> } {
  const session = connectHttp2(`http://${address}`);
  session.on('error', () => undefined);
  sessions.push(session);
  const stream = session.request({
    ':method': 'POST',
    ':path': GRPC_METHODS.traces,
    'content-type': 'application/grpc',
    te: 'trailers',
  });
  stream.on('error', () => undefined);
  stream.resume();
  const result = new Promise<number>((resolve, reject) => {
    // In the response headers (a trailers-only answer) or in the trailers.
    const take = (headers: Record<string, unknown>) => {
      if (headers['grpc-status'] !== undefined) resolve(Number(headers['grpc-status']));
    };
    stream.on('response', take);
    stream.on('trailers', take);
    stream.on('close', () => reject(new Error('the stream closed without a grpc-status')));
  });
  // Awaited only by the tests that expect a status; a cancelled stream has none.
  result.catch(() => undefined);
  return { stream, status: result };
}

describe('reservations of the in-flight budget', () => {
  it('reserves a first step, not the body limit, for gzip bodies: 8 at once within a budget of two limits all get 200, and it is all given back', async () => {
    const t = await start();
    const gzip = gzipSync(traceRequest('zipped', spans(20)));
    const requests = Array.from({ length: 8 }, () => {
      const raw = rawSocket(t.receivers.httpUrl);
      raw.socket.write(
        `POST /v1/traces HTTP/1.1\r\nHost: ${raw.host}\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: gzip\r\nContent-Length: ${gzip.length}\r\n\r\n`,
      );
      // The gzip header only: each body is being read, and holds its reservation.
      raw.socket.write(gzip.subarray(0, 10));
      return raw;
    });
    await waitFor(() => t.receivers.stats().inflight.requests === 8, { what: 'eight bodies being read' });
    expect(t.receivers.stats().inflight.bytes).toBe(8 * RESERVATION_STEP_BYTES);
    for (const { socket } of requests) socket.write(gzip.subarray(10));
    for (const { received } of requests) {
      await waitFor(() => received().includes('\r\n\r\n') && received(), { what: 'an answer' });
      expect(received()).toMatch(/^HTTP\/1\.1 200 /);
    }
    expect(t.receivers.stats().refused.busy).toBe(0);
    await waitFor(() => t.receivers.stats().inflight.bytes === 0, { what: 'the reservations released' });
    expect(t.receivers.stats().inflight.requests).toBe(0);
  });

  it('grows a gzip body reservation as it decompresses, and answers 429 with Retry-After when the body outgrows the room left', async () => {
    const t = await start();
    await holdBudget(t);
    // Within the body limit, and small on the wire; not within the half limit left in the budget.
    const body = traceRequest('growing', [{ attributes: { payload: 'g'.repeat((3 * LIMIT) / 4) } }]);
    const before = t.receivers.stats().http.bodyBytes;
    const res = await curl(
      `${t.receivers.httpUrl}/v1/traces`,
      [...PROTOBUF, '-H', 'Content-Encoding: gzip'],
      gzipSync(body),
    );
    expect(res.status).toBe(429);
    expect(res.headers['retry-after']).toBe('1');
    const rpcStatus = statusOf(res.body);
    expect(rpcStatus).toMatchObject({ code: 8, message: BUSY });
    expect(rpcStatus.details?.[0]?.type_url).toBe('type.googleapis.com/google.rpc.RetryInfo');
    // Admitted and read in part (a first step fitted): refused as it grew, not before reading.
    expect(t.receivers.stats().http.bodyBytes - before).toBeGreaterThan(LIMIT / 2 - RESERVATION_STEP_BYTES);
    expect(t.receivers.stats().refused.busy).toBe(1);
    // Only the stalled bodies hold the budget still; once they go, nothing does.
    expect(t.receivers.stats().inflight).toMatchObject({ bytes: LIMIT + LIMIT / 2, requests: 2 });
    for (const s of sockets.splice(0)) s.destroy();
    await waitFor(() => t.receivers.stats().inflight.bytes === 0, { what: 'the reservations released' });
    expect(t.receivers.stats().inflight.requests).toBe(0);
  });

  it('reserves a first step for each gRPC call: 8 at once within a budget of two limits all get OK, and it is all given back', async () => {
    const t = await start();
    const calls = Array.from({ length: 8 }, () => grpcStream(t.receivers.grpcAddress));
    await waitFor(() => t.receivers.stats().inflight.requests === 8, { what: 'eight calls admitted' });
    expect(t.receivers.stats().inflight.bytes).toBe(8 * RESERVATION_STEP_BYTES);
    const frame = grpcFrame(traceRequest('grpc-many', spans(20)));
    for (const { stream } of calls) stream.end(frame);
    expect(await Promise.all(calls.map((c) => c.status))).toEqual(Array(8).fill(status.OK));
    expect(t.receivers.stats().refused.busy).toBe(0);
    await waitFor(() => t.receivers.stats().inflight.bytes === 0, { what: 'the reservations released' });
    expect(t.receivers.stats().inflight.requests).toBe(0);
  });

  it('grows a gRPC call reservation to its message, and answers RESOURCE_EXHAUSTED with RetryInfo when there is no room for it', async () => {
    const t = await start();
    await holdBudget(t);
    const client = rawClient(t.receivers.grpcAddress, GRPC_METHODS.traces);
    clients.push(client);
    const body = traceRequest('grpc-growing', [{ attributes: { payload: 'g'.repeat((3 * LIMIT) / 4) } }]);
    const { error } = await sendRaw(client, body);
    expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(error?.details).toBe(BUSY);
    const [details] = error?.metadata.get('grpc-status-details-bin') ?? [];
    expect(statusOf(details as Buffer).details?.[0]?.type_url).toBe(
      'type.googleapis.com/google.rpc.RetryInfo',
    );
    expect(t.receivers.stats().refused.busy).toBe(1);
    expect(t.batches).toHaveLength(0);
    // A small call still fits in what is left.
    expect((await sendRaw(client, traceRequest('grpc-small', spans(1)))).error).toBeNull();
    for (const s of sockets.splice(0)) s.destroy();
    await waitFor(() => t.receivers.stats().inflight.bytes === 0, { what: 'the reservations released' });
    expect(t.receivers.stats().inflight.requests).toBe(0);
  });
});

describe('the OTLP/gRPC read deadline', () => {
  it('answers DEADLINE_EXCEEDED to a call whose message does not arrive in time, and releases its reservation', async () => {
    const t = await start({ readTimeoutMs: 300 });
    const call = grpcStream(t.receivers.grpcAddress);
    await waitFor(() => t.receivers.stats().inflight.requests === 1, { what: 'the call admitted' });
    expect(await call.status).toBe(status.DEADLINE_EXCEEDED);
    await waitFor(() => t.receivers.stats().inflight.bytes === 0, { what: 'the reservation released' });
    expect(t.receivers.stats().inflight.requests).toBe(0);
    await waitFor(() => t.receivers.stats().refused.timeout === 1, { what: 'the timeout counted' });
    expect(t.receivers.stats().refused.invalid).toBe(0);
  });

  it('counts a call its client resets mid-message as aborted, not invalid', async () => {
    const t = await start();
    const call = grpcStream(t.receivers.grpcAddress);
    // A frame that announces 100 bytes and brings 10.
    call.stream.write(grpcFrame(Buffer.alloc(100)).subarray(0, 15));
    await waitFor(() => t.receivers.stats().inflight.requests === 1, { what: 'the call admitted' });
    // RST_STREAM (CANCEL) without END_STREAM: grpc-js still sends its "no request message" status.
    call.stream.destroy();
    await waitFor(() => t.receivers.stats().inflight.requests === 0, { what: 'the reservation released' });
    await waitFor(() => t.receivers.stats().refused.aborted === 1, { what: 'the cancel counted' });
    expect(t.receivers.stats().refused.invalid).toBe(0);
  });
});
