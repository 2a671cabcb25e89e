/**
 * The OTLP/HTTP receiver with curl as the client: hand-written OTLP/JSON, gzip-compressed protobuf,
 * and bad input of every kind, each answered as the OTLP specification says and never with a 500.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ingest, startIngest } from '../../src/ingest/index.ts';
import { otlpTypes } from '../../src/ingest/proto.ts';
import { getPerformanceReport } from '../../src/telemetry/index.ts';
import { startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';
import {
  curl,
  freshId,
  gzipBomb,
  JSON_BODY,
  nowNs,
  PROTOBUF,
  quiet,
  spans,
  startTestReceivers,
  statusOf,
  type TestReceivers,
  traceRequest,
  traceRequestObject,
  traceResponseOf,
} from './helpers.ts';

describe('OTLP/HTTP receiver', () => {
  let t: TestReceivers;
  let traces: string;

  beforeAll(async () => {
    t = await startTestReceivers();
    traces = `${t.receivers.httpUrl}/v1/traces`;
  });
  afterAll(async () => {
    await t.receivers.close();
  });

  it('takes a hand-written OTLP/JSON body: hex ids, integer enums, 64-bit integers as strings or numbers, unknown fields ignored', async () => {
    const start = nowNs() - 1_000_000_000n;
    const body = JSON.stringify({
      resourceSpans: [
        {
          resource: {
            attributes: [
              { key: 'service.name', value: { stringValue: 'json-svc' } },
              { key: 'nested', value: { kvlistValue: { values: [{ key: 'k', value: { intValue: '1' } }] } } },
            ],
          },
          scopeSpans: [
            {
              scope: { name: 'hand', version: '1.0' },
              spans: [
                {
                  traceId: '5B8EFFF798038103D269B633813FC60C',
                  spanId: 'EEE19B7EC3C1B174',
                  parentSpanId: 'eee19b7ec3c1b173',
                  name: 'checkout',
                  kind: 2,
                  flags: 257,
                  startTimeUnixNano: String(start),
                  endTimeUnixNano: String(start + 750_000_001n),
                  droppedAttributesCount: 0,
                  attributes: [
                    { key: 'http.status_code', value: { intValue: '503' } },
                    { key: 'retries', value: { intValue: 2 } },
                    { key: 'ratio', value: { doubleValue: 0.5 } },
                    { key: 'ok', value: { boolValue: false } },
                    { key: 'blob', value: { bytesValue: 'AAEC' } },
                    {
                      key: 'list',
                      value: { arrayValue: { values: [{ stringValue: 'a' }, { stringValue: 'b' }] } },
                    },
                  ],
                  links: [{ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' }],
                  status: { code: 2, message: 'boom' },
                  futureField: { anything: [1, 2, 3] },
                },
              ],
            },
          ],
        },
      ],
      somethingNew: true,
    });
    const res = await curl(traces, JSON_BODY, body);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.json()).toEqual({});

    const span = await waitFor(() =>
      t.batches.flatMap((b) => b.spans).find((s) => s.view.name === 'checkout'),
    );
    expect(span.view).toMatchObject({
      service: 'json-svc',
      kind: 1,
      error: true,
      traceId: '5b8efff798038103d269b633813fc60c',
      spanId: 'eee19b7ec3c1b174',
      traceFlags: 1,
    });
    expect(span.view.durationSeconds).toBe(0.750000001);
    expect({ ...span.view.attributes }).toEqual({
      'http.status_code': 503,
      retries: 2,
      ratio: 0.5,
      ok: false,
      list: ['a', 'b'],
    });
    // The request re-encodes as protobuf with the ids as bytes, as the forwarder will send it.
    const batch = t.batches.find((b) => b.spans.includes(span));
    const type = otlpTypes().traceRequest;
    const again = type.toObject(type.decode(type.encode(batch?.request as object).finish()), {
      bytes: String,
    });
    const sent = again.resourceSpans[0].scopeSpans[0].spans[0];
    expect(Buffer.from(sent.links[0].traceId, 'base64').toString('hex')).toBe(
      '0af7651916cd43dd8448eb211c80319c',
    );
    expect(Buffer.from(sent.parentSpanId, 'base64').toString('hex')).toBe('eee19b7ec3c1b173');
    expect(sent.attributes.find((a: { key: string }) => a.key === 'blob').value.bytesValue).toBe('AAEC');
  });

  it('takes a gzip-compressed protobuf body and answers in protobuf', async () => {
    const body = gzipSync(
      traceRequest(
        'gzip-svc',
        spans(3, (i) => ({ name: `zipped-${i}`, kind: 3 })),
      ),
    );
    const res = await curl(traces, [...PROTOBUF, '-H', 'Content-Encoding: gzip'], body);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/x-protobuf');
    expect(traceResponseOf(res.body)).toEqual({});
    const got = await waitFor(() => {
      const found = t.batches.flatMap((b) => b.spans).filter((s) => s.view.service === 'gzip-svc');
      return found.length === 3 ? found : undefined;
    });
    expect(got.map((s) => [s.view.name, s.view.kind])).toEqual([
      ['zipped-0', 2],
      ['zipped-1', 2],
      ['zipped-2', 2],
    ]);
  });

  it('answers 400 with a google.rpc.Status for truncated protobuf and garbage bytes', async () => {
    const whole = traceRequest('cut', spans(5));
    for (const body of [
      whole.subarray(0, whole.length - 7),
      Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]),
      Buffer.from('not protobuf at all \u0000\u00ff'),
    ]) {
      const res = await curl(traces, PROTOBUF, body);
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toBe('application/x-protobuf');
      const status = statusOf(res.body);
      expect(status.code).toBe(3);
      expect(status.message).toMatch(/^the body is not an OTLP trace request in protobuf: /);
    }
  });

  it('answers 400 with a JSON status for invalid JSON and JSON of the wrong shape, naming the field', async () => {
    const cases: [string, RegExp][] = [
      ['{"resourceSpans": [', /^the body is not valid JSON: /],
      ['[1, 2]', /the body: is an array of 2; expected an object/],
      ['{"resourceSpans": 5}', /resourceSpans: is 5; expected an array/],
      [
        '{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": {"x": 1}}]}]}]}',
        /resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.name: is an object; expected a string/,
      ],
      [
        '{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
        /startTimeUnixNano: is "soon"; expected a non-negative integer/,
      ],
      [
        '{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "W4797/mAOBA9JptjOBP8YM=="}]}]}]}',
        /traceId: .*expected hex digits \(OTLP\/JSON writes ids in hex, not base64\)/,
      ],
      [
        '{"resourceSpans": [{"scopeSpans": [{"spans": [{"kind": "SPAN_KIND_SIDEWAYS"}]}]}]}',
        /kind: .*expected an integer \(SpanKind\)/,
      ],
    ];
    for (const [body, message] of cases) {
      const res = await curl(
        traces,
        [...JSON_BODY, '-H', 'Content-Type: application/json; charset=utf-8'],
        body,
      );
      expect(res.status, body).toBe(400);
      expect(res.json().code).toBe(3);
      expect(res.json().message).toMatch(message);
    }
  });

  it('answers 415 to other content types and encodings, 404 to other paths, 405 to other methods', async () => {
    const body = traceRequest('nope', spans(1));
    const text = await curl(traces, ['-H', 'Content-Type: text/plain'], body);
    expect(text.status).toBe(415);
    expect(text.json()).toEqual({
      code: 3,
      message:
        'Content-Type "text/plain" is not accepted; expected application/x-protobuf or application/json',
    });
    const brotli = await curl(traces, [...PROTOBUF, '-H', 'Content-Encoding: br'], body);
    expect(brotli.status).toBe(415);
    expect(statusOf(brotli.body).message).toMatch(
      /Content-Encoding "br" is not accepted; expected gzip or none/,
    );
    const logs = await curl(`${t.receivers.httpUrl}/v1/logs`, PROTOBUF, body);
    expect(logs.status).toBe(404);
    const get = await curl(traces, ['-X', 'GET']);
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect(get.json().message).toMatch(/"GET" is not accepted on \/v1\/traces; expected POST/);
  });

  it('rejects spans that end before they start or lie ten years ahead, through partial_success, and keeps the rest', async () => {
    const start = nowNs() - 1_000_000_000n;
    const decade = 10n * 365n * 86_400n * 1_000_000_000n;
    const body = traceRequest('skew-svc', [
      { name: 'backwards', startNs: start, endNs: start - 1n },
      { name: 'fine', startNs: start, endNs: start + 1_000n },
      { name: 'future', startNs: start + decade, endNs: start + decade + 5n },
    ]);
    const res = await curl(traces, PROTOBUF, body);
    expect(res.status).toBe(200);
    const response = traceResponseOf(res.body) as {
      partialSuccess: { rejectedSpans: string; errorMessage: string };
    };
    expect(response.partialSuccess.rejectedSpans).toBe('2');
    expect(response.partialSuccess.errorMessage).toMatch(
      /^span 0 \(name "backwards"\) was rejected: it ends before it starts/,
    );
    const batch = await waitFor(() => t.batches.find((b) => b.spans[0]?.view.service === 'skew-svc'));
    expect(batch.spans.map((s) => s.view.name)).toEqual(['fine']);
    expect(batch.rejected).toBe(2);
    // The rejected spans left the request: it is forwarded as it was accepted.
    const type = otlpTypes().traceRequest;
    const kept = type.toObject(batch.request as never).resourceSpans[0].scopeSpans[0].spans;
    expect(kept.map((s: { name: string }) => s.name)).toEqual(['fine']);

    const json = await curl(
      traces,
      JSON_BODY,
      JSON.stringify(
        jsonOf(traceRequestObject('skew-json', [{ startNs: start + decade, endNs: start + decade }])),
      ),
    );
    expect(json.json()).toEqual({
      partialSuccess: {
        rejectedSpans: '1',
        errorMessage: expect.stringMatching(/more than an hour in the future/),
      },
    });
  });

  it('rejects spans with invalid ids, and spans of a resource whose service.name is unusable', async () => {
    const body = traceRequest('ids-svc', [
      { name: 'zero-trace', traceId: new Uint8Array(16) },
      { name: 'short-span', spanId: freshId(4) },
      { name: 'no-trace', traceId: new Uint8Array(0) },
      { name: 'bad-parent', parentSpanId: freshId(5) },
      { name: 'good' },
    ]);
    const res = await curl(traces, PROTOBUF, body);
    const response = traceResponseOf(res.body) as {
      partialSuccess: { rejectedSpans: string; errorMessage: string };
    };
    expect(response.partialSuccess.rejectedSpans).toBe('4');
    expect(response.partialSuccess.errorMessage).toBe(
      'span 0 (name "zero-trace") was rejected: its trace id is all zero; expected 16 bytes (32 hex digits), not all zero',
    );
    const batch = await waitFor(() => t.batches.find((b) => b.spans[0]?.view.service === 'ids-svc'));
    expect(batch.spans.map((s) => s.view.name)).toEqual(['good']);

    const unusable = await curl(traces, PROTOBUF, traceRequest('bad\nname', spans(2)));
    const refused = traceResponseOf(unusable.body) as {
      partialSuccess: { rejectedSpans: string; errorMessage: string };
    };
    expect(refused.partialSuccess.rejectedSpans).toBe('2');
    expect(refused.partialSuccess.errorMessage).toMatch(
      /service\.name is "bad\\nname", not 1 to 256 printable characters/,
    );

    const anonymous = await curl(traces, PROTOBUF, traceRequest(undefined, [{ name: 'anonymous' }]));
    expect(anonymous.status).toBe(200);
    const span = await waitFor(() =>
      t.batches.flatMap((b) => b.spans).find((s) => s.view.name === 'anonymous'),
    );
    expect(span.view.service).toBe('unknown_service');
  });

  it('accepts an attribute of 1 MiB: the view holds 4096 characters of it, the forwarded message all of it', async () => {
    const huge = 'h'.repeat(1024 * 1024);
    const res = await curl(
      traces,
      PROTOBUF,
      traceRequest('huge-svc', [{ name: 'huge', attributes: { payload: huge, small: 'ok' } }]),
    );
    expect(res.status).toBe(200);
    const span = await waitFor(() => t.batches.flatMap((b) => b.spans).find((s) => s.view.name === 'huge'));
    expect(span.view.attributes.payload).toBe('h'.repeat(4096));
    expect(span.view.attributes.small).toBe('ok');
    const kept = span.message.attributes.find((a) => a.key === 'payload');
    expect(kept?.value?.stringValue?.length).toBe(1024 * 1024);
  });

  it('keeps the connection alive across requests', async () => {
    // One curl, two requests: the second reuses the first one's connection.
    const dir = mkdtempSync(join(tmpdir(), 'ingest-'));
    const file = join(dir, 'body.bin');
    writeFileSync(file, traceRequest('ka', spans(1)));
    const once = [...PROTOBUF, '--data-binary', `@${file}`];
    const res = await curl(traces, [...once, '-v', traces, '--next', '-i', ...once]);
    rmSync(dir, { recursive: true });
    expect(res.status).toBe(200);
    expect(res.stderr).toMatch(/Re-using existing connection/);
  });
});

describe('OTLP/HTTP receiver into the real evaluator', () => {
  const MAX_OPERATIONS = 50;
  let telemetry: TestTelemetry;
  let ingest: Ingest;

  beforeAll(async () => {
    telemetry = await startTestTelemetry({
      REDIS_URL: '',
      PERF_MAX_OPERATIONS: String(MAX_OPERATIONS),
      OTLP_HTTP_PORT: '0',
      OTLP_GRPC_PORT: '0',
    });
    ingest = await startIngest({ telemetry: telemetry.telemetry, host: '127.0.0.1', logger: quiet });
  });
  afterAll(async () => {
    await ingest?.close();
    await telemetry?.cleanup();
  });

  it('accepts 100,000 distinct span names with targets in four requests, and the evaluator keeps at most PERF_MAX_OPERATIONS of them', async () => {
    const traces = `${ingest.httpUrl}/v1/traces`;
    for (let r = 0; r < 4; r++) {
      const body = traceRequest(
        'names-svc',
        spans(25_000, (i) => ({ name: `name-${r}-${i}`, attributes: { 'perf.target_seconds': 10 } })),
      );
      const res = await curl(traces, PROTOBUF, body);
      expect(res.status).toBe(200);
      expect(traceResponseOf(res.body)).toEqual({});
    }
    await waitFor(() => ingest.stats().receivers.spans.processed === 100_000, {
      what: 'every span evaluated',
      timeoutMs: 30_000,
    });
    // Nothing waits in the receivers once evaluated.
    expect(ingest.stats().receivers.queue).toMatchObject({ spans: 0, bytes: 0, requests: 0 });
    // The evaluator keeps labels for the first MAX_OPERATIONS names and one `_other` for the rest.
    const { evaluator } = telemetry.telemetry;
    expect(evaluator.targetOf('name-0-0', 'names-svc')).toBe(10);
    expect(evaluator.targetOf(`name-0-${MAX_OPERATIONS - 1}`, 'names-svc')).toBe(10);
    expect(evaluator.targetOf(`name-0-${MAX_OPERATIONS}`, 'names-svc')).toBeUndefined();
    expect(evaluator.targetOf('name-3-24999', 'names-svc')).toBeUndefined();
    expect(evaluator.targetOf('_other', 'names-svc')).toBe(10);
    // And so does what it reports: 100,000 runs under MAX_OPERATIONS names plus `_other`.
    const report = await getPerformanceReport({ service: 'names-svc', hours: 1 });
    const operations = Object.entries(report.operations);
    expect(operations).toHaveLength(MAX_OPERATIONS + 1);
    expect(report.operations._other?.count).toBe(100_000 - MAX_OPERATIONS);
    expect(operations.reduce((n, [, o]) => n + o.count, 0)).toBe(100_000);
  }, 60_000);
});

/** A `fromObject` request as OTLP/JSON: ids in hex. */
function jsonOf(request: object): unknown {
  return JSON.parse(
    JSON.stringify(request, (_key, value: unknown) =>
      value instanceof Uint8Array
        ? Buffer.from(value).toString('hex')
        : (value as { type?: string })?.type === 'Buffer'
          ? Buffer.from((value as { data: number[] }).data).toString('hex')
          : value,
    ),
  );
}

describe('OTLP/HTTP receiver limits', () => {
  const LIMIT = 4 * 1024 * 1024;
  let t: TestReceivers;
  let traces: string;

  beforeAll(async () => {
    t = await startTestReceivers({ maxBodyBytes: LIMIT, readTimeoutMs: 300 });
    traces = `${t.receivers.httpUrl}/v1/traces`;
  });
  afterAll(async () => {
    await t.receivers.close();
  });

  it('stops a gzip bomb (1 MiB expanding to 1 GiB) at the limit: 413, and reading stopped near it', async () => {
    const bomb = gzipBomb();
    expect(bomb.length).toBeLessThan(1.1 * 1024 * 1024);
    const before = t.receivers.stats();
    const res = await curl(traces, [...PROTOBUF, '-H', 'Content-Encoding: gzip'], bomb);
    expect(res.status).toBe(413);
    expect(statusOf(res.body).message).toBe(
      `the request body is larger than ${LIMIT} bytes (after decompression)`,
    );
    const after = t.receivers.stats();
    const decompressed = after.http.bodyBytes - before.http.bodyBytes;
    expect(decompressed).toBeGreaterThan(LIMIT);
    // One gunzip output chunk (16 KiB) past the limit at most.
    expect(decompressed).toBeLessThanOrEqual(LIMIT + 16 * 1024);
    expect(after.refused.tooLarge).toBe(before.refused.tooLarge + 1);
    // The receiver still answers.
    expect((await curl(traces, PROTOBUF, traceRequest('after-bomb', spans(1)))).status).toBe(200);
  });

  it('answers 413 at once to a Content-Length over the limit, reading none of the body', async () => {
    const before = t.receivers.stats().http.bodyBytes;
    const res = await curl(traces, PROTOBUF, Buffer.alloc(LIMIT + 1));
    expect(res.status).toBe(413);
    expect(statusOf(res.body).message).toBe(
      `the request body is ${LIMIT + 1} bytes, larger than the limit of ${LIMIT} bytes`,
    );
    expect(t.receivers.stats().http.bodyBytes).toBe(before);
  });

  it('answers 400 to a body that is not gzip though it says so', async () => {
    const res = await curl(traces, [...JSON_BODY, '-H', 'Content-Encoding: gzip'], '{"resourceSpans": []}');
    expect(res.status).toBe(400);
    expect(res.json().message).toMatch(/^the body is not valid gzip \(Content-Encoding: gzip\): /);
  });

  it('answers 408 and closes the connection when the body does not arrive in time', async () => {
    const before = t.receivers.stats().refused.timeout;
    const url = new URL(traces);
    const socket = connect(Number(url.port), url.hostname);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.write(
      `POST /v1/traces HTTP/1.1\r\nHost: ${url.host}\r\nContent-Type: application/x-protobuf\r\nContent-Length: 100\r\n\r\n0123456789`,
    );
    // The other 90 bytes never come: the receiver gives up, answers and closes.
    await ended;
    const answer = Buffer.concat(received).toString('latin1');
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toMatch(/connection: close/i);
    expect(t.receivers.stats().refused.timeout).toBe(before + 1);
  });
});

describe('OTLP/HTTP receiver with a token', () => {
  const TOKEN = 'sekrit-token-abcdefghijklmnop';
  const lines: string[] = [];
  let t: TestReceivers;
  let traces: string;

  beforeAll(async () => {
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    t = await startTestReceivers({
      token: TOKEN,
      logger,
      onMetrics: () => {
        throw new Error('metrics store broke');
      },
    });
    traces = `${t.receivers.httpUrl}/v1/traces`;
  });
  afterAll(async () => {
    await t.receivers.close();
  });

  it('answers 401 with WWW-Authenticate: Bearer to a missing or wrong token, 200 to the right one', async () => {
    const body = traceRequest('auth-svc', spans(1));
    for (const header of [
      [],
      ['-H', `Authorization: Bearer ${TOKEN}0`],
      ['-H', `Authorization: Basic ${TOKEN}`],
      ['-H', 'Authorization: Bearer'],
    ]) {
      const res = await curl(traces, [...PROTOBUF, ...header], body);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe('Bearer');
      expect(res.body.toString('latin1')).not.toContain(TOKEN);
    }
    const ok = await curl(traces, [...PROTOBUF, '-H', `authorization: bearer ${TOKEN}`], body);
    expect(ok.status).toBe(200);
    expect(t.receivers.stats().refused.unauthorized).toBe(4);
  });

  it('answers 500 to a real internal fault (a throwing metrics callback), logs it once, and never logs the token', async () => {
    const type = otlpTypes().metricsRequest;
    const body = type.encode(type.fromObject({ resourceMetrics: [] })).finish();
    const metrics = `${t.receivers.httpUrl}/v1/metrics`;
    for (let i = 0; i < 3; i++) {
      const res = await curl(
        metrics,
        [...PROTOBUF, '-H', `Authorization: Bearer ${TOKEN}`],
        Buffer.from(body),
      );
      expect(res.status).toBe(500);
      expect(statusOf(res.body)).toEqual({ code: 13, message: 'internal error in the receiver' });
    }
    const faults = lines.filter((l) => l.includes('metrics store broke'));
    expect(faults).toHaveLength(1);
    expect(t.receivers.stats().refused.internal).toBe(3);
    expect(lines.join('\n')).not.toContain(TOKEN);
  });
});
