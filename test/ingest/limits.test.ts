/**
 * The receivers' bounds on what they hold while reading: the in-flight budget shared by OTLP/HTTP
 * and OTLP/gRPC, traces and metrics (past it, requests are refused at once with a retry hint,
 * reading nothing), and the OTLP/HTTP connection limit. Bodies are held in flight by raw sockets
 * that send their headers and part of their body, then nothing. How reservations start small and
 * grow is in `reservations.test.ts`.
 */

import { connect, type Socket } from 'node:net';
import { type Client, status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { GRPC_METHODS } from '../../src/ingest/grpc-receiver.ts';
import { waitFor } from '../helpers/wait.ts';
import { encodedMetrics } from './forward-helpers.ts';
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

const LIMIT = 64 * 1024;

let running: TestReceivers | undefined;
const sockets: Socket[] = [];
const clients: Client[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const c of clients.splice(0)) c.close();
  await running?.receivers.close();
  running = undefined;
});

/** A POST whose headers declare `length` body bytes, of which only the first ten are sent. */
function stalledPost(url: string, path: string, length: number): Socket {
  const { hostname, port, host } = new URL(url);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => undefined);
  socket.write(
    `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/x-protobuf\r\nContent-Length: ${length}\r\n\r\n0123456789`,
  );
  sockets.push(socket);
  return socket;
}

/** A metrics request of one data point (not empty: an empty body needs no room). */
function metricsBody(): Buffer {
  return Buffer.from(encodedMetrics(1));
}

describe('the in-flight budget', () => {
  it('refuses traces and metrics, over HTTP and gRPC, at once with a retry hint while it is spent, and takes them again once bodies are done', async () => {
    const t = await startTestReceivers({ maxBodyBytes: LIMIT, maxInflightBytes: 2 * LIMIT });
    running = t;
    const base = t.receivers.httpUrl;
    // Two bodies being read, each reserving its declared length: the budget is spent.
    stalledPost(base, '/v1/traces', LIMIT);
    stalledPost(base, '/v1/metrics', LIMIT);
    await waitFor(() => t.receivers.stats().inflight.bytes === 2 * LIMIT, { what: 'two reservations' });
    expect(t.receivers.stats().inflight).toMatchObject({ maxBytes: 2 * LIMIT, requests: 2 });

    const busy = 'the receiver is busy: too many requests are being read at once; retry later';
    const before = t.receivers.stats().http.wireBytes;
    for (const [path, body] of [
      ['/v1/metrics', metricsBody()],
      ['/v1/traces', traceRequest('flooding', spans(1))],
    ] as const) {
      const res = await curl(`${base}${path}`, PROTOBUF, body);
      expect([path, res.status]).toEqual([path, 429]);
      expect(res.headers['retry-after']).toBe('1');
      const rpcStatus = statusOf(res.body);
      expect(rpcStatus).toMatchObject({ code: 8, message: busy });
      expect(rpcStatus.details?.[0]?.type_url).toBe('type.googleapis.com/google.rpc.RetryInfo');
    }
    // Refused without being read.
    expect(t.receivers.stats().http.wireBytes).toBe(before);

    for (const method of [GRPC_METHODS.traces, GRPC_METHODS.metrics]) {
      const client = rawClient(t.receivers.grpcAddress, method);
      clients.push(client);
      const body = method === GRPC_METHODS.traces ? traceRequest('flooding', spans(1)) : metricsBody();
      const { error } = await sendRaw(client, body);
      expect(error?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(error?.details).toBe(busy);
      const [details] = error?.metadata.get('grpc-status-details-bin') ?? [];
      expect(statusOf(details as Buffer).details?.[0]?.type_url).toBe(
        'type.googleapis.com/google.rpc.RetryInfo',
      );
    }
    expect(t.receivers.stats().refused.busy).toBe(4);
    expect(t.metrics).toHaveLength(0);

    // The senders go away: their reservations are given back, and requests are taken again.
    for (const s of sockets.splice(0)) s.destroy();
    await waitFor(() => t.receivers.stats().inflight.bytes === 0, { what: 'the reservations released' });
    expect(t.receivers.stats().refused.aborted).toBe(2);
    expect((await curl(`${base}/v1/metrics`, PROTOBUF, metricsBody())).status).toBe(200);
    const client = rawClient(t.receivers.grpcAddress, GRPC_METHODS.traces);
    clients.push(client);
    expect((await sendRaw(client, traceRequest('after', spans(1)))).error).toBeNull();
    expect(t.receivers.stats().inflight).toMatchObject({ bytes: 0, requests: 0 });
  });
});

describe('the OTLP/HTTP connection limit', () => {
  it('closes connections past it at once, and takes new ones when others close', async () => {
    const t = await startTestReceivers({ maxConnections: 2 });
    running = t;
    const traces = `${t.receivers.httpUrl}/v1/traces`;
    const { hostname, port } = new URL(t.receivers.httpUrl);
    for (let i = 0; i < 2; i++) {
      const socket = connect(Number(port), hostname);
      socket.on('error', () => undefined);
      sockets.push(socket);
    }
    const body = traceRequest('crowded', spans(1));
    // Once the server has taken both idle connections, a third is closed without an answer.
    await waitFor(
      async () =>
        (await curl(traces, PROTOBUF, body).then(
          () => 'answered',
          () => 'closed',
        )) === 'closed',
      {
        what: 'a connection past the limit to be closed',
      },
    );
    for (const s of sockets.splice(0)) s.destroy();
    await waitFor(async () => (await curl(traces, PROTOBUF, body).catch(() => undefined))?.status === 200, {
      what: 'a connection to be taken again',
    });
  });
});
