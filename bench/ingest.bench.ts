/**
 * The OTLP ingest's cost (`npm run bench -- ingest`), on 100-span protobuf requests built by
 * `bench/ingest-body.ts` (realistic spans, about 10 attributes each, encoded once with protobufjs):
 *
 * 1. In process, per request body: decode + `checkTraces` + evaluation of every span by the real
 *    `SpanEvaluator` of a started telemetry (memory-only, no alert fires) + the encoded response,
 *    against raw `otlpTypes().traceRequest.decode(body)` of the same bodies (same library, same
 *    types). Also decode + check alone, to show where the difference goes. Goal: at least 0.5x.
 * 2. End to end over HTTP: a client process (`bench/ingest-client.ts`, keep-alive, a fixed number
 *    of connections, 429 retried after Retry-After as OTLP exporters do) POSTs the bodies to the
 *    OTLP/HTTP receiver of a sidecar process (`bench/ingest-child.ts`: `startSidecar({ ingest:
 *    true, port: 0 })` under `src/register.ts`, as `npm start` runs it, memory-only), against a bare
 *    node:http server that reads the body, decodes it with protobufjs and answers 200, with the same
 *    client. Spans per second are counted by the server (evaluated; decoded), alternating rounds,
 *    medians; at 1 connection (one exporter) and at 8 (several at once).
 * 3. Time from a POST's 200 to its alert in Redis: one span of the 100 breaches its
 *    `perf.target_seconds`, under a unique `perf.operation` and trace id per sample; a second Redis
 *    connection waits in `BLPOP` on the alert list. Absolute milliseconds: there is no baseline.
 * 4. The sidecar process's RSS while 10,000 spans/s arrive (100 requests/s, paced): 120 s of
 *    warm-up (printed, not measured), then 60 s measured, sampled every second: start, max, end and
 *    slope of the measured window (absolute MiB; `ingest-rss.ts` says why the warm-up).
 *
 * On a 2-core machine the client and the server get a core each; the client reports its own CPU
 * so that a saturated client shows. Tunables: BENCH_INGEST_PART (`decode`, `http`, `alert` or
 * `rss`: one part only), BENCH_INGEST_ROUNDS (5), BENCH_INGEST_HTTP_SECONDS per measurement (5),
 * BENCH_INGEST_CONNECTIONS (`1,8`: the concurrencies measured), BENCH_INGEST_ALERTS samples (200),
 * BENCH_INGEST_SECONDS measured in the RSS run (60), BENCH_INGEST_WARMUP_SECONDS before them (120),
 * BENCH_INGEST_RATE spans/s of the RSS run (10000).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { loadConfig } from '../src/config.ts';
import { checkTraces, decodeMessage } from '../src/ingest/decode.ts';
import { otlpTypes } from '../src/ingest/proto.ts';
import { encodeExportResponse, exportResponse } from '../src/ingest/responses.ts';
import { startTelemetry, stopTelemetry } from '../src/telemetry/index.ts';
import { type BreachingBody, breachingBody, SPANS_PER_REQUEST, traceBodies } from './ingest-body.ts';
import type { ChildReady, ChildStats } from './ingest-child.ts';
import type { ClientRequest, RunResult } from './ingest-client.ts';
import { benchRss } from './ingest-rss.ts';
import { compare, median, percentile } from './lib.ts';
import { ChildProcesses, sidecarEnv, stopChild } from './process.ts';
import { deleteKeys, redisAnswers } from './redis.ts';

const CHILD = fileURLToPath(new URL('./ingest-child.ts', import.meta.url));
const CLIENT = fileURLToPath(new URL('./ingest-client.ts', import.meta.url));
const SIDECAR_REGISTER = fileURLToPath(new URL('../src/register.ts', import.meta.url));

const ROUNDS = Number(process.env.BENCH_INGEST_ROUNDS ?? 5);
const HTTP_SECONDS = Number(process.env.BENCH_INGEST_HTTP_SECONDS ?? 5);
/** Concurrencies of part 2, each measured on its own: one exporter, then several at once. */
const CONNECTIONS = (process.env.BENCH_INGEST_CONNECTIONS ?? '1,8').split(',').map(Number);
/** Most requests in flight in the paced RSS run (at 100 requests/s, rarely more than one). */
const RSS_MAX_IN_FLIGHT = 16;
const ALERT_SAMPLES = Number(process.env.BENCH_INGEST_ALERTS ?? 200);
const RSS_SECONDS = Number(process.env.BENCH_INGEST_SECONDS ?? 60);
/** Seconds of the same traffic before the RSS run's measured window (see `ingest-rss.ts`). */
const RSS_WARMUP_SECONDS = Number(process.env.BENCH_INGEST_WARMUP_SECONDS ?? 120);
const RSS_SPANS_PER_SECOND = Number(process.env.BENCH_INGEST_RATE ?? 10_000);
/** Distinct bodies cycled through: distinct trace ids and durations, as real traffic has. */
const BODIES = 64;
const MIB = 1024 * 1024;

/** Every process started here. */
const processes = new ChildProcesses();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** Resolves with the child's next message of `type` (rejects if it exits first or reports failure). */
function nextMessage<T extends { type: string }>(child: ChildProcess, type: T['type'], timeoutMs: number) {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no ${type} message within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (message: { type: string; error?: string }) => {
      if (message.type === type) done(undefined, message as T);
      else if (message.type === 'failed') done(new Error(`child failed: ${message.error}`));
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`child exited (code ${code}, signal ${signal}) before sending ${type}`));
    function done(error: Error | undefined, message?: T) {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(message as T);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function forkTracked(module: string, execArgv: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = fork(module, [], {
    execArgv,
    env,
    // stdout (the sidecar's pino lines) to /dev/null: their cost is paid, their text not shown.
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  return processes.add(child);
}

interface Server {
  readonly child: ChildProcess;
  readonly ready: ChildReady;
}

/** Forks a server child (`sidecar` under the register preload, or `bare`) and waits until it listens. */
async function startServer(variant: 'sidecar' | 'bare', env: Record<string, string> = {}): Promise<Server> {
  const execArgv = variant === 'sidecar' ? ['--import', SIDECAR_REGISTER] : [];
  const child = forkTracked(CHILD, execArgv, sidecarEnv({ BENCH_INGEST_VARIANT: variant, ...env }));
  const ready = await nextMessage<ChildReady>(child, 'listening', 30_000);
  return { child, ready };
}

function stats(server: Server): Promise<ChildStats> {
  const answer = nextMessage<ChildStats>(server.child, 'stats', 10_000);
  server.child.send({ type: 'stats' });
  return answer;
}

/** Waits until the server has evaluated everything it accepted (so rounds do not overlap). */
async function drained(server: Server, timeoutMs = 30_000): Promise<ChildStats> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await stats(server);
    if (s.queuedSpans === 0) return s;
    if (Date.now() > deadline) throw new Error(`${s.queuedSpans} spans still queued after ${timeoutMs} ms`);
    await sleep(20);
  }
}

interface Client {
  readonly child: ChildProcess;
  run(request: Omit<Extract<ClientRequest, { type: 'run' }>, 'type'>): Promise<RunResult>;
}

/** Forks the load generator and hands it the bodies (once; every run cycles through them). */
async function startClient(bodies: readonly Uint8Array[]): Promise<Client> {
  const child = forkTracked(CLIENT, [], sidecarEnv({}));
  await nextMessage(child, 'ready', 30_000);
  const loaded = nextMessage(child, 'loaded', 30_000);
  child.send({ type: 'bodies', bodies } satisfies ClientRequest);
  await loaded;
  return {
    child,
    run: async (request) => {
      const result = nextMessage<RunResult>(child, 'result', (request.seconds + 60) * 1000);
      child.send({ type: 'run', ...request } satisfies ClientRequest);
      return result;
    },
  };
}

/** One POST of a protobuf body on a keep-alive agent: status and the time its answer ended. */
function post(
  agent: http.Agent,
  url: string,
  body: Uint8Array,
): Promise<{ status: number; endedAt: number; body: Buffer }> {
  const target = new URL('/v1/traces', url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        agent,
        headers: { 'Content-Type': 'application/x-protobuf', 'Content-Length': String(body.byteLength) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('end', () =>
          resolve({ status: res.statusCode ?? 0, endedAt: performance.now(), body: Buffer.concat(chunks) }),
        );
        res.once('error', reject);
      },
    );
    req.once('error', reject);
    req.end(body);
  });
}

/** Part 1: the function path against raw decoding, in process, on the same bodies. */
async function benchFunctionPath(): Promise<void> {
  const config = loadConfig({ LOG_LEVEL: 'error', REDIS_URL: '' });
  const telemetry = startTelemetry({ config, instrumentations: [] });
  // Resource detection settles asynchronously; let it, as a running sidecar would have.
  await sleep(200);
  const evaluator = telemetry.evaluator;
  const type = otlpTypes().traceRequest;
  const bodies = traceBodies({ count: BODIES, seed: 1 });

  /** What the receiver does with a body, minus the socket and the queue hop. */
  const ingest = (body: Uint8Array) => {
    const decoded = checkTraces(decodeMessage(type, body, 'protobuf', 'an OTLP trace request'));
    let verdicts = 0;
    for (const span of decoded.spans) if (evaluator.evaluate(span.view)) verdicts++;
    const response = encodeExportResponse(
      'traces',
      'protobuf',
      exportResponse('traces', decoded.rejected, decoded.rejectedReason),
    );
    return { spans: decoded.spans.length, rejected: decoded.rejected, verdicts, response };
  };

  // What one pass over the bodies does, checked before measuring: every span accepted, evaluated
  // where it has a target or an operation, and no alert.
  let spans = 0;
  let rejected = 0;
  let verdicts = 0;
  for (const body of bodies) {
    const r = ingest(body);
    spans += r.spans;
    rejected += r.rejected;
    verdicts += r.verdicts;
  }
  const bytes = bodies.reduce((n, b) => n + b.byteLength, 0);
  console.log(
    `\ningest: ${bodies.length} request bodies of ${SPANS_PER_REQUEST} spans, ${fmt(bytes / bodies.length)} bytes ` +
      `each on average; one pass: ${spans} spans accepted, ${rejected} rejected, ${verdicts} with a verdict ` +
      `(target or perf.operation), alerts emitted ${telemetry.alerts.stats().emitted}`,
  );

  let a = 0;
  let b = 0;
  let c = 0;
  const next = (i: number) => bodies[i % bodies.length] as Uint8Array;
  const rows = await compare(
    `ingest: one ${SPANS_PER_REQUEST}-span request, in process, on the same bodies (memory-only telemetry, no alert fires)`,
    [
      { name: 'raw traceRequest.decode(body)', run: () => type.decode(next(a++)) },
      {
        name: 'decode + checkTraces',
        run: () => checkTraces(decodeMessage(type, next(b++), 'protobuf', '')),
      },
      { name: 'decode + checkTraces + evaluate + response', run: () => ingest(next(c++)) },
    ],
    { batch: 10, timeMs: 1000 },
  );
  const full = rows[2];
  if (full) {
    console.log(
      `ratio (throughput) of the function path to raw decoding: ${full.ratio.toFixed(2)}x ` +
        `(goal at least 0.5x: ${full.ratio >= 0.5 ? 'met' : 'MISSED'}); ` +
        `${fmt(full.opsPerSecond * SPANS_PER_REQUEST)} spans/s on one core ` +
        `(${(full.nsPerOp / 1000 / SPANS_PER_REQUEST).toFixed(2)} µs per span)`,
    );
  }
  if (telemetry.alerts.stats().emitted !== 0) throw new Error('an alert fired during the function-path run');
  await stopTelemetry();
}

/** The two servers of part 2, baseline first. */
const HTTP_VARIANTS = [
  { key: 'bare', label: 'bare node:http + protobufjs decode, 200' },
  { key: 'sidecar', label: 'sidecar OTLP/HTTP receiver (startSidecar, register preload)' },
] as const;

/** Part 2: spans per second over HTTP, sidecar receiver against a bare decode-and-200 server. */
async function benchHttpThroughput(client: Client): Promise<void> {
  const servers = new Map<string, Server>();
  try {
    for (const v of HTTP_VARIANTS) servers.set(v.key, await startServer(v.key));
    // What each server does with one request, checked before measuring.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const [body] = traceBodies({ count: 1, seed: 99 });
    const checks = [];
    for (const v of HTTP_VARIANTS) {
      const server = servers.get(v.key) as Server;
      const before = await drained(server);
      const res = await post(agent, server.ready.otlpUrl, body as Uint8Array);
      const after = await drained(server);
      checks.push({
        server: v.label,
        status: res.status,
        'response bytes': res.body.byteLength,
        'spans done': after.spansDone - before.spansDone,
        'http instrumented': server.ready.httpInstrumented,
      });
    }
    agent.destroy();
    console.log('\ningest over HTTP: the servers under test (each its own process; the client another)');
    console.table(checks);
    for (const connections of CONNECTIONS) await throughputAt(connections, servers, client);
  } finally {
    await Promise.all([...servers.values()].map((s) => stopChild(s.child)));
  }
}

/** One measurement of part 2: both servers at `connections`, alternating rounds. */
async function throughputAt(
  connections: number,
  servers: Map<string, Server>,
  client: Client,
): Promise<void> {
  // JIT warm-up, discarded.
  for (const v of HTTP_VARIANTS) {
    const server = servers.get(v.key) as Server;
    await client.run({ url: server.ready.otlpUrl, concurrency: connections, seconds: 2 });
    await drained(server);
  }
  const figures = new Map<string, { spansPerSecond: number; result: RunResult; after: ChildStats }[]>(
    HTTP_VARIANTS.map((v) => [v.key, []]),
  );
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first.
    for (const v of round % 2 === 0 ? HTTP_VARIANTS : [...HTTP_VARIANTS].reverse()) {
      const server = servers.get(v.key) as Server;
      // Each measurement starts with nothing queued: a backlog is not carried into the next one.
      const before = await drained(server);
      const from = performance.now();
      const result = await client.run({
        url: server.ready.otlpUrl,
        concurrency: connections,
        seconds: HTTP_SECONDS,
      });
      const after = await stats(server);
      const seconds = (performance.now() - from) / 1000;
      // Spans the server finished with during the run: evaluated (sidecar) or decoded (bare). What
      // the sidecar accepted but had not evaluated yet at the end is not counted.
      figures
        .get(v.key)
        ?.push({ spansPerSecond: (after.spansDone - before.spansDone) / seconds, result, after });
    }
  }
  const spansPerSecond = (key: string) => median((figures.get(key) ?? []).map((f) => f.spansPerSecond));
  const baseline = spansPerSecond('bare');
  console.log(
    `\ningest over HTTP: POST /v1/traces, ${SPANS_PER_REQUEST}-span protobuf bodies, keep-alive, ` +
      `${connections} connection${connections === 1 ? '' : 's'} (429 retried after Retry-After), ` +
      `${HTTP_SECONDS} s per measurement, median of ${ROUNDS} alternating rounds`,
  );
  console.table(
    HTTP_VARIANTS.map((v) => {
      const rows = figures.get(v.key) ?? [];
      const sps = rows.map((r) => r.spansPerSecond);
      const answers: Record<string, number> = {};
      for (const r of rows)
        for (const [status, n] of Object.entries(r.result.statuses))
          answers[status] = (answers[status] ?? 0) + n;
      return {
        server: v.key,
        'spans/s': fmt(spansPerSecond(v.key)),
        'min..max': `${fmt(Math.min(...sps))}..${fmt(Math.max(...sps))}`,
        'req/s': fmt(median(rows.map((r) => (r.result.requests / r.result.elapsedMs) * 1000))),
        'p50 ms': median(rows.map((r) => r.result.p50Ms)).toFixed(2),
        'p99 ms': median(rows.map((r) => r.result.p99Ms)).toFixed(2),
        answers: Object.entries(answers)
          .map(([status, n]) => `${status}: ${n}`)
          .join(', '),
        'client CPU %': median(rows.map((r) => r.result.cpuPercent)).toFixed(0),
        'queued at end': fmt(median(rows.map((r) => r.after.queuedSpans))),
        'heap MiB at end': (median(rows.map((r) => r.after.heapUsedBytes)) / MIB).toFixed(0),
        'x bare': (spansPerSecond(v.key) / baseline).toFixed(3),
      };
    }),
  );
  const failed = [...figures.values()].flat().reduce((n, f) => n + f.result.errors, 0);
  console.log(
    `ratio (throughput) sidecar/bare at ${connections} connection${connections === 1 ? '' : 's'}: ` +
      `${(spansPerSecond('sidecar') / baseline).toFixed(3)}` +
      (failed > 0 ? `  (${failed} requests failed without an answer)` : ''),
  );
}

interface AlertRecordSeen {
  labels?: { service?: string; operation?: string };
  trace?: { trace_id?: string };
}

/** Part 3: from a POST's 200 to its alert in Redis, against a real Redis. */
async function benchAlertLatency(redisUrl: string): Promise<void> {
  if (!(await redisAnswers(redisUrl))) {
    console.log(`\ningest alert latency: skipped (${redisUrl} does not answer)`);
    return;
  }
  const prefix = `bench:ingest:${randomUUID().slice(0, 8)}:`;
  const list = `${prefix}performance_alerts`;
  const warmup = 10;
  // Built before anything is timed: a unique operation and trace id per sample.
  const samples: BreachingBody[] = Array.from({ length: warmup + ALERT_SAMPLES }, (_, i) =>
    breachingBody(`bench_alert_${prefix.slice(13, 21)}_${i}`, 10_000 + i),
  );
  const server = await startServer('sidecar', { REDIS_URL: redisUrl, ALERT_KEY_PREFIX: prefix });
  const waiter = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const latencies: number[] = [];
  let beforeAnswer = 0;
  try {
    const pings: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t = performance.now();
      await waiter.ping();
      pings.push(performance.now() - t);
    }
    for (let i = 0; i < samples.length; i++) {
      const sample = samples[i] as BreachingBody;
      // The blocking pop is sent first: it waits in Redis, and returns the moment the sidecar's
      // LPUSH lands (an alert written before it arrived would be popped at once all the same).
      let poppedAt = 0;
      const popped = waiter.blpop(list, 10).then((reply) => {
        poppedAt = performance.now();
        return reply;
      });
      const answer = await post(agent, server.ready.otlpUrl, sample.body);
      if (answer.status !== 200) throw new Error(`the receiver answered ${answer.status}`);
      const reply = await popped;
      if (!reply) throw new Error(`no alert for ${sample.operation} within 10 s`);
      const record = JSON.parse(reply[1]) as AlertRecordSeen;
      if (record.labels?.operation !== sample.operation || record.trace?.trace_id !== sample.traceId) {
        throw new Error(`unexpected alert ${reply[1].slice(0, 300)} (waiting for ${sample.operation})`);
      }
      if (i < warmup) continue;
      const ms = poppedAt - answer.endedAt;
      // The alert can be read before the client has finished reading the 200 (both in flight at once).
      if (ms < 0) beforeAnswer++;
      latencies.push(Math.max(0, ms));
    }
    console.log(
      `\ningest alert latency: ${ALERT_SAMPLES} samples (after ${warmup} discarded), sequential; each a ` +
        `${SPANS_PER_REQUEST}-span body with one breaching span (unique perf.operation and trace id), from the ` +
        'end of its 200 to BLPOP returning the alert on a second connection. Absolute ms: there is no baseline.',
    );
    console.table([
      {
        'p50 ms': percentile(latencies, 50).toFixed(2),
        'p99 ms': percentile(latencies, 99).toFixed(2),
        'max ms': Math.max(...latencies).toFixed(2),
        'alert read before the 200 ended': beforeAnswer,
        'Redis PING round trip, median ms (for scale)': median(pings).toFixed(2),
      },
    ]);
  } finally {
    agent.destroy();
    waiter.disconnect();
    await stopChild(server.child);
    console.log(`deleted ${await deleteKeys(redisUrl, prefix)} Redis keys under ${prefix}`);
  }
}

/** Part 4: the sidecar's memory under a steady 10,000 spans/s, after a warm-up (`ingest-rss.ts`). */
async function benchIngestRss(client: Client): Promise<void> {
  const server = await startServer('sidecar');
  try {
    await benchRss({
      spansPerRequest: SPANS_PER_REQUEST,
      spansPerSecond: RSS_SPANS_PER_SECOND,
      warmupSeconds: RSS_WARMUP_SECONDS,
      measuredSeconds: RSS_SECONDS,
      maxInFlight: RSS_MAX_IN_FLIGHT,
      otlpUrl: server.ready.otlpUrl,
      stats: () => stats(server),
      drained: () => drained(server),
      send: (seconds, rate, concurrency) =>
        client.run({ url: server.ready.otlpUrl, concurrency, seconds, rate }),
    });
  } finally {
    await stopChild(server.child);
  }
}

/** Runs the ingest benchmarks; every process it started is gone when it returns or throws. */
export async function benchIngest(redisUrl: string): Promise<void> {
  const part = process.env.BENCH_INGEST_PART;
  const wanted = (name: string) => part === undefined || part === name;
  await processes.guard(async () => {
    if (wanted('decode')) await benchFunctionPath();
    // One client process for the HTTP and RSS parts, the bodies handed to it once.
    const client =
      wanted('http') || wanted('rss')
        ? await startClient(traceBodies({ count: BODIES, seed: 2 }))
        : undefined;
    try {
      if (client && wanted('http')) await benchHttpThroughput(client);
      if (wanted('alert')) await benchAlertLatency(redisUrl);
      if (client && wanted('rss')) await benchIngestRss(client);
    } finally {
      if (client) await stopChild(client.child);
    }
  });
}
