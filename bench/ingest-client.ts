/**
 * Load generator of the `ingest` benchmark, forked by `bench/ingest.bench.ts` (never run by hand):
 * a process of its own, so the server under test has its own core and its RSS and CPU are its own.
 *
 * It POSTs OTLP/HTTP protobuf bodies (`Content-Type: application/x-protobuf`, no compression) to
 * `<url>/v1/traces` over keep-alive node:http connections, cycling through the bodies the parent
 * sent once (`{ type: 'bodies' }`, structured clone over IPC). Two modes, one `{ type: 'run' }`
 * message each, answered with a {@link RunResult}:
 *
 * - closed loop (`rate` absent): `concurrency` connections, each sending its next request as soon
 *   as the previous one is answered, for `seconds`: the most the server takes at that concurrency.
 *   A 429 or 503 is retried after its Retry-After, as OTLP exporters do.
 * - paced (`rate` given): `rate` requests per second on a schedule (at most `concurrency` in
 *   flight); requests the server could not take in time are counted as `behind`, never bunched.
 *
 * The client reports its own CPU time, so a reader can tell whether it, not the server, was the
 * limit. Exits when the parent goes away.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

/** What the parent asks for. */
export type ClientRequest =
  | { readonly type: 'bodies'; readonly bodies: readonly Uint8Array[] }
  | {
      readonly type: 'run';
      /** OTLP/HTTP base URL; requests go to `${url}/v1/traces`. */
      readonly url: string;
      readonly concurrency: number;
      readonly seconds: number;
      /** Requests per second (paced mode); closed loop when absent. */
      readonly rate?: number;
    };

/** The figures of one run. */
export interface RunResult {
  readonly type: 'result';
  /** Requests answered, whatever the status. */
  readonly requests: number;
  /** Answers by HTTP status. */
  readonly statuses: Readonly<Record<string, number>>;
  /** Requests that failed without an answer (connection errors). */
  readonly errors: number;
  readonly elapsedMs: number;
  /** Client-side latency from sending to the end of the answer, ms. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** The client's CPU time (user + system) over the run, as a percentage of one core. */
  readonly cpuPercent: number;
  /** Paced mode: requests due by the end that could not be sent (too many in flight). */
  readonly behind: number;
}

let bodies: readonly Uint8Array[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
process.on('disconnect', () => process.exit(0));

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
}

async function run(request: Extract<ClientRequest, { type: 'run' }>): Promise<RunResult> {
  if (bodies.length === 0) throw new Error('no bodies: send { type: "bodies" } first');
  const target = new URL('/v1/traces', request.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: request.concurrency });
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  let errors = 0;
  let next = 0;
  let inFlight = 0;

  /** Sends one body; resolves with the answer's Retry-After in seconds when it was 429 or 503. */
  const post = (body: Uint8Array): Promise<number | undefined> => {
    const started = performance.now();
    inFlight++;
    return new Promise((resolve) => {
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
          res.resume();
          res.once('end', () => {
            const status = String(res.statusCode ?? 0);
            statuses[status] = (statuses[status] ?? 0) + 1;
            latencies.push(performance.now() - started);
            inFlight--;
            const retry = res.statusCode === 429 || res.statusCode === 503;
            resolve(retry ? Number(res.headers['retry-after'] ?? 1) : undefined);
          });
        },
      );
      req.once('error', () => {
        errors++;
        inFlight--;
        resolve(undefined);
      });
      req.end(body);
    });
  };

  const cpuBefore = process.cpuUsage();
  const startedAt = performance.now();
  const deadline = startedAt + request.seconds * 1000;
  let behind = 0;
  if (request.rate === undefined) {
    const worker = async () => {
      let body = bodies[next++ % bodies.length] as Uint8Array;
      while (performance.now() < deadline) {
        const retryAfter = await post(body);
        if (retryAfter === undefined) {
          body = bodies[next++ % bodies.length] as Uint8Array;
          continue;
        }
        // As an OTLP exporter does: the same request again once Retry-After has passed (the
        // specification asks clients to honour it), never a retry storm on a busy receiver.
        await sleep(Math.min(retryAfter * 1000, Math.max(0, deadline - performance.now())));
      }
    };
    await Promise.all(Array.from({ length: request.concurrency }, worker));
  } else {
    const rate = request.rate;
    let sent = 0;
    const pending = new Set<Promise<void>>();
    await new Promise<void>((resolve) => {
      // A 5 ms tick sends whatever the schedule says is due: at 100 requests/s, one every other tick.
      const timer = setInterval(() => {
        const now = performance.now();
        const due = Math.min(Math.floor(((now - startedAt) * rate) / 1000), request.seconds * rate);
        while (sent < due && inFlight < request.concurrency) {
          sent++;
          const p = post(bodies[next++ % bodies.length] as Uint8Array).then(() => undefined);
          pending.add(p);
          void p.then(() => pending.delete(p));
        }
        if (now >= deadline) {
          clearInterval(timer);
          behind = Math.max(0, request.seconds * rate - sent);
          resolve();
        }
      }, 5);
    });
    await Promise.all(pending);
  }
  const elapsedMs = performance.now() - startedAt;
  const cpu = process.cpuUsage(cpuBefore);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    type: 'result',
    requests: latencies.length,
    statuses,
    errors,
    elapsedMs,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cpuPercent: ((cpu.user + cpu.system) / 1000 / elapsedMs) * 100,
    behind,
  };
}

process.on('message', (message: ClientRequest) => {
  if (message.type === 'bodies') {
    bodies = message.bodies;
    process.send?.({ type: 'loaded', count: bodies.length });
  } else if (message.type === 'run') {
    run(message).then(
      (result) => process.send?.(result),
      (error: unknown) => process.send?.({ type: 'failed', error: String(error) }),
    );
  }
});
process.send?.({ type: 'ready' });
