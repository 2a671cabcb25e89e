/**
 * The queue in front of evaluation, through the receivers: a flood past it is refused (429 with
 * Retry-After), nothing accepted is lost, a graceful close evaluates everything accepted, and a
 * failing evaluator neither stops the queue nor the receivers.
 */
import { connect } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { checkTraces } from '../../src/ingest/decode.ts';
import { otlpTypes } from '../../src/ingest/proto.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  curl,
  JSON_BODY,
  PROTOBUF,
  spans,
  startTestReceivers,
  statusOf,
  type TestReceivers,
  traceRequest,
} from './helpers.ts';

let running: TestReceivers | undefined;
afterEach(async () => {
  running?.release();
  await running?.receivers.close();
  running = undefined;
});

async function start(options: Parameters<typeof startTestReceivers>[0]): Promise<TestReceivers> {
  running = await startTestReceivers(options);
  return running;
}

/** Whether something accepts connections on `port` of the loopback. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('the receivers queue', () => {
  it('answers 429 with Retry-After to a flood past it, and evaluates every accepted span once it drains', async () => {
    const t = await start({ queueSpans: 100 });
    const traces = `${t.receivers.httpUrl}/v1/traces`;
    t.hold();
    const answers: number[] = [];
    for (let i = 0; i < 15; i++) {
      const res = await curl(traces, PROTOBUF, traceRequest('flood', spans(10)));
      answers.push(res.status);
      if (res.status === 429) {
        expect(res.headers['retry-after']).toBe('1');
        const status = statusOf(res.body);
        expect(status.code).toBe(8);
        expect(status.message).toBe(
          'the receiver is busy: its queue of spans to evaluate is full; retry later',
        );
        expect(status.details?.[0]?.type_url).toBe('type.googleapis.com/google.rpc.RetryInfo');
      }
    }
    // Ten requests of ten spans fill a queue of 100; the rest are refused, none half-taken.
    expect(answers).toEqual([...Array(10).fill(200), ...Array(5).fill(429)]);
    const json = await curl(traces, JSON_BODY, '{"resourceSpans": []}');
    expect(json.status).toBe(429);
    expect(json.json()).toMatchObject({
      code: 8,
      details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '1s' }],
    });
    const held = t.receivers.stats();
    expect(held.queue).toMatchObject({ spans: 100, requests: 10, maxSpans: 100 });
    expect(held.refused.queueFull).toBe(6);
    expect(held.spans.accepted).toBe(100);

    t.release();
    await waitFor(() => t.spanCount() === 100);
    const drained = t.receivers.stats();
    expect(drained.spans.processed).toBe(100);
    expect(drained.queue).toMatchObject({ spans: 0, requests: 0 });
    // Every accepted span was evaluated exactly once.
    const ids = new Set(t.batches.flatMap((b) => b.spans.map((s) => s.view.spanId)));
    expect(ids.size).toBe(100);
    expect((await curl(traces, PROTOBUF, traceRequest('flood', spans(10)))).status).toBe(200);
  });

  it('is bounded in memory too: large spans fill it before their count does', async () => {
    const t = await start({ queueSpans: 1000, maxBodyBytes: 64 * 1024, queueBytes: 64 * 1024 });
    const traces = `${t.receivers.httpUrl}/v1/traces`;
    t.hold();
    const big = traceRequest('bytes', [{ attributes: { payload: 'b'.repeat(40 * 1024) } }]);
    expect((await curl(traces, PROTOBUF, big)).status).toBe(200);
    expect((await curl(traces, PROTOBUF, big)).status).toBe(429);
    expect(t.receivers.stats().queue).toMatchObject({ spans: 1, requests: 1 });
    t.release();
    await waitFor(() => t.spanCount() === 1);
    expect((await curl(traces, PROTOBUF, big)).status).toBe(200);
  });

  it('counts the decoded size of what it holds, not the bytes on the wire', async () => {
    const t = await start({ maxBodyBytes: 256 * 1024, queueBytes: 1024 * 1024 });
    const traces = `${t.receivers.httpUrl}/v1/traces`;
    t.hold();
    // Many small attributes: small on the wire, several times larger once decoded.
    const attributes = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`attr.${i}`, `v${i}`]));
    const body = traceRequest(
      'decoded',
      spans(500, () => ({ attributes })),
    );
    expect(body.length).toBeLessThan(256 * 1024);
    expect((await curl(traces, PROTOBUF, body)).status).toBe(200);
    const held = t.receivers.stats().queue;
    const estimate = checkTraces(
      otlpTypes().traceRequest.decode(body),
      Date.now(),
      body.length,
    ).estimatedBytes;
    expect(held.bytes).toBe(estimate);
    expect(held.bytes).toBeGreaterThan(4 * body.length);
    // Two bodies fit the bound on the wire, not once decoded: the second waits for room.
    expect(2 * body.length).toBeLessThan(1024 * 1024);
    const second = await curl(traces, PROTOBUF, body);
    expect(second.status).toBe(429);
    expect(t.receivers.stats().queue).toMatchObject({ spans: 500, requests: 1 });
    t.release();
    await waitFor(() => t.spanCount() === 500);
    expect(t.receivers.stats().queue).toMatchObject({ spans: 0, bytes: 0 });
    expect((await curl(traces, PROTOBUF, body)).status).toBe(200);
  });

  it('answers 413 to a request of more spans than it can ever hold', async () => {
    const t = await start({ queueSpans: 10 });
    const res = await curl(`${t.receivers.httpUrl}/v1/traces`, PROTOBUF, traceRequest('batch', spans(11)));
    expect(res.status).toBe(413);
    expect(statusOf(res.body).message).toBe(
      "the request holds 11 spans, more than the receiver's queue holds (10); send smaller batches",
    );
  });

  it('keeps going when evaluation throws: the failure is counted and logged once, later requests evaluated', async () => {
    const lines: string[] = [];
    let calls = 0;
    const t = await start({
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
      processTraces: () => {
        calls++;
        if (calls <= 3) throw new Error('evaluator broke');
      },
    });
    const traces = `${t.receivers.httpUrl}/v1/traces`;
    for (let i = 0; i < 5; i++)
      expect((await curl(traces, PROTOBUF, traceRequest('failing', spans(2)))).status).toBe(200);
    await waitFor(() => calls === 5);
    const stats = t.receivers.stats();
    expect(stats.queue.processFailures).toBe(3);
    expect(stats.spans.processed).toBe(10);
    expect(lines.filter((l) => l.includes('evaluator broke'))).toHaveLength(1);
  });

  it('closes gracefully: stops listening, then evaluates everything accepted before it resolves', async () => {
    const t = await start({ queueSpans: 1000 });
    const { httpPort, grpcPort } = t.receivers;
    const traces = `${t.receivers.httpUrl}/v1/traces`;
    t.hold();
    for (let i = 0; i < 4; i++)
      expect((await curl(traces, PROTOBUF, traceRequest('closing', spans(25)))).status).toBe(200);
    let closed = false;
    const closing = t.receivers.close(10_000).then(() => {
      closed = true;
    });
    await waitFor(async () => !(await listening(httpPort)) && !(await listening(grpcPort)));
    // Still draining: the held evaluation keeps the accepted spans waiting, and close waits for them.
    expect(closed).toBe(false);
    expect(t.receivers.stats().queue.spans).toBe(100);
    t.release();
    await closing;
    expect(t.spanCount()).toBe(100);
    expect(t.receivers.stats().spans.processed).toBe(100);
  });

  it('finishes a request in flight when closing starts, and evaluates its spans', async () => {
    const t = await start({});
    const url = new URL(t.receivers.httpUrl);
    const body = traceRequest('in-flight', spans(3));
    const socket = connect(Number(url.port), url.hostname);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(
      `POST /v1/traces HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/x-protobuf\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    socket.write(body.subarray(0, 10));
    // The receiver is reading the body when closing starts.
    await waitFor(() => t.receivers.stats().http.wireBytes === 10);
    const closing = t.receivers.close(10_000);
    await waitFor(async () => !(await listening(t.receivers.httpPort)));
    socket.write(body.subarray(10));
    await ended;
    const answer = Buffer.concat(received).toString('latin1');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    // Its connection is not kept: the receiver is going away.
    expect(answer).toMatch(/connection: close/i);
    await closing;
    expect(t.spanCount()).toBe(3);
  });

  it('gives up draining after the close timeout: discards what is left, counts and logs it, and evaluates nothing after', async () => {
    const lines: string[] = [];
    const t = await start({
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }),
    });
    t.hold();
    const traces = `${t.receivers.httpUrl}/v1/traces`;
    for (let i = 0; i < 3; i++)
      expect((await curl(traces, PROTOBUF, traceRequest('stuck', spans(3)))).status).toBe(200);
    // The first request is being evaluated (held); the other two wait behind it.
    await waitFor(() => t.batches.length === 1);
    await t.receivers.close(400);
    const closed = t.receivers.stats();
    expect(closed.spans.notEvaluated).toBe(6);
    expect(closed.queue).toMatchObject({ spans: 3, requests: 1 });
    const warnings = lines
      .map((l) => JSON.parse(l) as { msg: string; spans?: number; requests?: number; inProgress?: number })
      .filter((l) => l.msg.includes('not drained'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ spans: 6, requests: 2, inProgress: 3 });

    // The evaluation in progress finishes on its own; nothing is handed to evaluation after close.
    t.release();
    await waitFor(() => t.receivers.stats().queue.requests === 0, { what: 'the queue to go idle' });
    expect(t.batches).toHaveLength(1);
    const after = t.receivers.stats();
    expect(after.spans.processed).toBe(3);
    expect(after.spans.notEvaluated).toBe(6);
    expect(after.queue).toMatchObject({ spans: 0, bytes: 0 });
  });
});
