/**
 * The bad input of the in-process receiver tests (http.test.ts, limits.test.ts, queue.test.ts) sent
 * to a sidecar process started as `npm start` starts it: a gzip bomb, 100,000 distinct span names,
 * attributes of 1 MiB, a flood past the queue and garbage protobuf. Each gets its documented
 * answer; afterwards the process still answers `/livez` and a good export, everything it accepted
 * was evaluated, and its memory stayed bounded: its peak resident memory (the kernel's high-water
 * mark, which a moment's expansion cannot hide from) stayed within {@link MEMORY_BOUND} of what it
 * held before. Receivers without their bounds would break that: the bomb alone expands to 1 GiB.
 */
import { type Client, status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRPC_METHODS } from '../../src/ingest/grpc-receiver.ts';
import { type SidecarProcess, startSidecarProcess } from '../helpers/sidecar.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  curl,
  gzipBomb,
  PROTOBUF,
  rawClient,
  sendRaw,
  spans,
  statusOf,
  traceRequest,
  traceResponseOf,
} from './helpers.ts';
import { type OtlpEndpoints, operationsOf, otlpEndpoints, processMemory, runsOf } from './process-helpers.ts';

const MIB = 1024 * 1024;
/**
 * Most the peak resident memory may exceed what the process held before the bad input. Generous:
 * V8 sizes its heap to these bursts and keeps the room (about 200 MiB here, most of it for the
 * 5,000-span requests of the 100,000 names, of which about 2 MiB stays live), but half of what the
 * bomb expands to: a receiver that read it whole peaked 2 GiB above.
 */
const MEMORY_BOUND = 512 * MIB;
/** The queue, in spans: small, so that a flood fills it and 100,000 names take 20 requests. */
const QUEUE_SPANS = 5000;
const MAX_OPERATIONS = 50;

describe('a sidecar process fed bad input', () => {
  let sidecar: SidecarProcess;
  let otlp: OtlpEndpoints;
  let traces: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    sidecar = await startSidecarProcess(
      { server: true },
      {
        REDIS_URL: '',
        LOG_LEVEL: 'info',
        PERF_INGEST_QUEUE_SPANS: String(QUEUE_SPANS),
        PERF_MAX_OPERATIONS: String(MAX_OPERATIONS),
      },
    );
    otlp = otlpEndpoints(sidecar);
    traces = `${otlp.http}/v1/traces`;
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await sidecar?.stop();
  });

  /** POSTs `body`, again while the answer is 429 (as exporters retry); resolves with the final status. */
  const postTaken = (body: Buffer) =>
    waitFor(
      async () => {
        const { status } = await curl(traces, PROTOBUF, body);
        return status === 429 ? undefined : status;
      },
      { what: 'the request to be taken', timeoutMs: 30_000 },
    );

  it('answers each as documented, stays up, evaluates all it accepted, and keeps its memory bounded', async () => {
    const pid = sidecar.child.pid;
    // A good export first: what starting and evaluating costs belongs to the baseline.
    const warm = spans(100, () => ({ attributes: { 'perf.operation': 'warm-op' } }));
    expect(await postTaken(traceRequest('warm-svc', warm))).toBe(200);
    await waitFor(async () => (await runsOf(sidecar.url, 'warm-svc')) === 100, { what: 'the warm-up runs' });
    const before = processMemory(pid);

    // A gzip bomb: stopped at the body limit while it streams through the decoder.
    const bomb = await curl(traces, [...PROTOBUF, '-H', 'Content-Encoding: gzip'], gzipBomb());
    expect(bomb.status).toBe(413);
    expect(statusOf(bomb.body).message).toMatch(
      /^the request body is larger than \d+ bytes \(after decompression\)$/,
    );

    // 100,000 distinct span names with targets, in requests the size of the queue.
    for (let r = 0; r < 100_000 / QUEUE_SPANS; r++) {
      const named = spans(QUEUE_SPANS, (i) => ({
        name: `name-${r}-${i}`,
        attributes: { 'perf.target_seconds': 10 },
      }));
      expect(await postTaken(traceRequest('names-svc', named))).toBe(200);
    }
    await waitFor(async () => (await runsOf(sidecar.url, 'names-svc')) === 100_000, {
      what: '100,000 runs of names-svc',
      timeoutMs: 60_000,
    });
    const names = await operationsOf(sidecar.url, 'names-svc');
    expect(Object.keys(names)).toHaveLength(MAX_OPERATIONS + 1);
    expect(names._other?.count).toBe(100_000 - MAX_OPERATIONS);

    // Attributes of 1 MiB: eight spans of one each, an 8 MiB body, accepted.
    const huge = spans(8, (i) => ({
      attributes: { 'perf.operation': 'huge-op', payload: String(i).repeat(MIB) },
    }));
    const hugeAnswer = await curl(traces, PROTOBUF, traceRequest('huge-svc', huge));
    expect(hugeAnswer.status).toBe(200);
    expect(traceResponseOf(hugeAnswer.body)).toEqual({});
    await waitFor(async () => (await runsOf(sidecar.url, 'huge-svc')) === 8, { what: 'the 1 MiB spans' });

    // A flood past the queue: bursts of requests at once until one is refused with 429 and a
    // Retry-After; every span of every request answered 200 is then evaluated, none lost.
    const flood = traceRequest(
      'flood-svc',
      spans(QUEUE_SPANS / 2, () => ({ attributes: { 'perf.operation': 'flood-op' } })),
    );
    let accepted = 0;
    let refused = 0;
    await waitFor(
      async () => {
        const answers = await Promise.all(Array.from({ length: 8 }, () => curl(traces, PROTOBUF, flood)));
        for (const answer of answers) {
          if (answer.status === 200) accepted += QUEUE_SPANS / 2;
          else {
            expect(answer.status).toBe(429);
            expect(answer.headers['retry-after']).toBe('1');
            refused++;
          }
        }
        return refused > 0;
      },
      { what: 'a flood to be refused with 429', timeoutMs: 60_000 },
    );
    await waitFor(async () => (await runsOf(sidecar.url, 'flood-svc')) === accepted, {
      what: `the ${accepted} accepted flood spans evaluated`,
      timeoutMs: 30_000,
    });

    // Garbage protobuf, over HTTP and gRPC: 400 and INVALID_ARGUMENT.
    const whole = traceRequest('cut', spans(5));
    for (const garbage of [
      whole.subarray(0, whole.length - 7),
      Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
      Buffer.from('not protobuf at all \u0000\u00ff'),
    ]) {
      const answer = await curl(traces, PROTOBUF, garbage);
      expect(answer.status).toBe(400);
      expect(statusOf(answer.body).code).toBe(3);
      const client = rawClient(otlp.grpc, GRPC_METHODS.traces);
      clients.push(client);
      expect((await sendRaw(client, garbage)).error?.code).toBe(grpcStatus.INVALID_ARGUMENT);
    }

    // Still up: it answers /livez and a good export, and evaluates it.
    expect(sidecar.child.exitCode).toBeNull();
    expect((await fetch(`${sidecar.url}/livez`)).status).toBe(200);
    expect(await postTaken(traceRequest('after-svc', warm))).toBe(200);
    await waitFor(async () => (await runsOf(sidecar.url, 'after-svc')) === 100, { what: 'the good export' });

    const after = processMemory(pid);
    expect(
      after.peak - before.rss,
      `peak ${(after.peak / MIB).toFixed(0)} MiB, before ${(before.rss / MIB).toFixed(0)} MiB`,
    ).toBeLessThan(MEMORY_BOUND);
  }, 240_000);
});
