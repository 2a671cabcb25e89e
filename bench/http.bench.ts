/**
 * The HTTP server's cost (`npm run bench -- http`):
 *
 * 1. Requests per second on `GET /ping` (a small JSON) for four server processes running the same
 *    Hono app, measured in rotation in one run with wrk (a separate process): A bare Hono; B Hono
 *    with OpenTelemetry instrumentation-http only; C perf-sidecar's register entry and
 *    `performanceMiddleware` with its defaults (instrumentation-http makes the server spans; request
 *    lines only for slow and failed requests, at LOG_LEVEL=info, to /dev/null; resource sampler
 *    on); D the same with `PERF_HTTP_SERVER_SPANS=middleware` (the middleware makes the server spans
 *    and the HTTP metric; instrumentation-http's incoming side off). With BENCH_HTTP_EXTRA=1 also
 *    A+ and B+ (A and B plus a middleware that only awaits next(): the floor of any Hono
 *    middleware) and C0 (the register entry, no middleware). Memory-only (no REDIS_URL) throughout. Ratios are taken round
 *    by round (each against the same round's baseline) and printed as median (min-max), for
 *    requests per second and for the server's CPU time per request (process.cpuUsage() around
 *    each measurement), the steadier figure on a machine shared with other work.
 * 2. The summary's latency: `npm run bench -- summary` (bench/summary.bench.ts).
 *
 * wrk runs one thread (the server is one event loop; on a 2-core machine wrk and the server get a
 * core each). `wrk` must be on PATH (Debian: `apt-get install -y wrk`) or named by BENCH_WRK.
 * Tunables: BENCH_HTTP_ROUNDS (5), BENCH_HTTP_SECONDS per measurement (5), BENCH_HTTP_CONNECTIONS
 * (32).
 */
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type { CheckBody, ChildMessage } from './http-child.ts';
import { median, ratioText } from './lib.ts';
import { stopChild } from './process.ts';
import { get, processes, reportListening, type Server, startServer, withChildren } from './server-child.ts';

const OTEL_REGISTER = fileURLToPath(new URL('./otel-register.ts', import.meta.url));
const SIDECAR_REGISTER = fileURLToPath(new URL('../src/register.ts', import.meta.url));
const WRK_SCRIPT = fileURLToPath(new URL('./wrk-report.lua', import.meta.url));

const WRK = process.env.BENCH_WRK ?? 'wrk';
const ROUNDS = Number(process.env.BENCH_HTTP_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_HTTP_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_HTTP_CONNECTIONS ?? 32);
const EXTRA = process.env.BENCH_HTTP_EXTRA === '1';

interface WrkResult {
  readonly requests: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly failures: number;
}

function wrk(port: number, seconds: number): Promise<WrkResult> {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--timeout', '5s', '-s', WRK_SCRIPT];
  const p = spawn(WRK, [...args, `http://127.0.0.1:${port}/ping`], { stdio: ['ignore', 'pipe', 'pipe'] });
  processes.add(p);
  let out = '';
  let err = '';
  p.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  p.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const guard = setTimeout(() => p.kill('SIGKILL'), (seconds + 15) * 1000);
  return new Promise((resolve, reject) => {
    p.once('error', reject);
    p.once('exit', (code) => {
      clearTimeout(guard);
      const line = out.split('\n').find((l) => l.startsWith('WRK_JSON '));
      if (code !== 0 || !line) {
        reject(new Error(`wrk failed (exit ${code}): ${err.trim() || out.trim()}`));
        return;
      }
      const r = JSON.parse(line.slice('WRK_JSON '.length)) as {
        requests: number;
        duration_us: number;
        socket_errors: number;
        non2xx: number;
        p50_us: number;
        p99_us: number;
      };
      resolve({
        requests: r.requests,
        rps: r.requests / (r.duration_us / 1e6),
        p50Ms: r.p50_us / 1000,
        p99Ms: r.p99_us / 1000,
        failures: r.socket_errors + r.non2xx,
      });
    });
  });
}

interface Variant {
  readonly key: string;
  readonly label: string;
  readonly execArgv: string[];
  readonly env: Record<string, string>;
}

const VARIANTS: readonly Variant[] = [
  { key: 'A', label: 'bare Hono (no telemetry)', execArgv: [], env: { BENCH_HTTP_VARIANT: 'bare' } },
  {
    key: 'B',
    label: 'Hono + OTel instrumentation-http only',
    execArgv: ['--import', OTEL_REGISTER],
    env: { BENCH_HTTP_VARIANT: 'otel' },
  },
  {
    key: 'C',
    label: 'perf-sidecar register + middleware (defaults: instrumentation-http server spans)',
    execArgv: ['--import', SIDECAR_REGISTER],
    env: { BENCH_HTTP_VARIANT: 'sidecar' },
  },
  {
    key: 'D',
    label: 'perf-sidecar register + middleware, PERF_HTTP_SERVER_SPANS=middleware (Hono-native)',
    execArgv: ['--import', SIDECAR_REGISTER],
    env: { BENCH_HTTP_VARIANT: 'sidecar', PERF_HTTP_SERVER_SPANS: 'middleware' },
  },
  ...(EXTRA
    ? [
        {
          key: 'A+',
          label: 'bare Hono + a middleware that only awaits next()',
          execArgv: [],
          env: { BENCH_HTTP_VARIANT: 'noop-middleware' },
        },
        {
          key: 'B+',
          label: 'B + a middleware that only awaits next()',
          execArgv: ['--import', OTEL_REGISTER],
          env: { BENCH_HTTP_VARIANT: 'noop-middleware' },
        },
        {
          key: 'C0',
          label: 'perf-sidecar register only (all default instrumentations), no middleware',
          execArgv: ['--import', SIDECAR_REGISTER],
          env: { BENCH_HTTP_VARIANT: 'register-only' },
        },
      ]
    : []),
];

/** Ratios printed round by round: case over baseline, each measured in the same round. */
const RATIOS: ReadonlyArray<readonly [string, string, string]> = [
  ['C', 'B', 'full monitoring (C) / instrumentation-http alone (B)'],
  ['D', 'B', 'Hono-native (D) / instrumentation-http alone (B)'],
  ['C', 'A', 'full monitoring (C) / bare Hono (A)'],
  ['D', 'A', 'Hono-native (D) / bare Hono (A)'],
  ['B', 'A', 'instrumentation-http alone (B) / bare Hono (A)'],
  ...(EXTRA
    ? ([
        ['A+', 'A', 'no-op middleware (A+) / bare Hono (A)'],
        ['B+', 'B', 'instrumentation-http + no-op middleware (B+) / B'],
        ['C', 'B+', 'full monitoring (C) / B+'],
        ['D', 'A+', 'Hono-native (D) / A+'],
        ['C0', 'B', 'register only (C0) / instrumentation-http alone (B)'],
      ] as const)
    : []),
];

/** Asks a server child something over IPC and waits for its answer of the same type. */
function ask<T extends ChildMessage['type']>(
  server: Server,
  type: T,
): Promise<Extract<ChildMessage, { type: T }>> {
  return new Promise((resolve) => {
    const onMessage = (message: ChildMessage) => {
      if (message.type !== type) return;
      server.child.off('message', onMessage);
      resolve(message as Extract<ChildMessage, { type: T }>);
    };
    server.child.on('message', onMessage);
    server.child.send({ type });
  });
}

/** What each server does per request, checked before measuring. */
async function checkServers(servers: ReadonlyMap<string, Server>): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const rows = [];
  for (const v of VARIANTS) {
    const server = servers.get(v.key) as Server;
    const res = await get(agent, server.port, '/ping', { 'x-correlation-id': 'bench-check' });
    if (res.status !== 200) throw new Error(`${v.key} answered GET /ping with ${res.status}`);
    const check = JSON.parse((await get(agent, server.port, '/check')).body) as CheckBody;
    const perfSidecar = v.execArgv.includes(SIDECAR_REGISTER);
    rows.push({
      variant: v.key,
      server: v.label,
      body: res.body,
      'incoming http wrapped': server.httpInstrumented,
      'server span (kind 1)': check.recording ? check.kind : '-',
      'x-correlation-id echoed': res.headers['x-correlation-id'] === 'bench-check',
      'requests in http metric': perfSidecar ? (await ask(server, 'recorded')).requests : '-',
    });
  }
  agent.destroy();
  console.log('\nhttp: the servers under test (each its own process; wrk is another)');
  console.table(rows);
}

async function benchThroughput(): Promise<void> {
  const servers = new Map<string, Server>();
  try {
    for (const v of VARIANTS) servers.set(v.key, await startServer(v.execArgv, v.env));
    await checkServers(servers);

    const rps = new Map<string, number[]>(VARIANTS.map((v) => [v.key, []]));
    const p50 = new Map<string, number[]>(VARIANTS.map((v) => [v.key, []]));
    const p99 = new Map<string, number[]>(VARIANTS.map((v) => [v.key, []]));
    const cpu = new Map<string, number[]>(VARIANTS.map((v) => [v.key, []]));
    let failures = 0;
    // JIT warm-up, discarded.
    for (const v of VARIANTS) await wrk((servers.get(v.key) as Server).port, 3);
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate the order so that no variant always runs first or right after another.
      const ordered = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length] as Variant);
      for (const v of ordered) {
        const server = servers.get(v.key) as Server;
        await wrk(server.port, 1); // connection and cache warm-up, discarded
        const before = (await ask(server, 'cpu')).micros;
        const r = await wrk(server.port, SECONDS);
        cpu.get(v.key)?.push(((await ask(server, 'cpu')).micros - before) / r.requests);
        failures += r.failures;
        rps.get(v.key)?.push(r.rps);
        p50.get(v.key)?.push(r.p50Ms);
        p99.get(v.key)?.push(r.p99Ms);
      }
      process.stdout.write(`  round ${round + 1}/${ROUNDS} done\n`);
    }
    if (failures > 0) throw new Error(`${failures} requests failed (socket errors or non-2xx)`);

    const of = (key: string) => rps.get(key) ?? [];
    console.log(
      `\nhttp: GET /ping, requests per second (wrk -t1 -c${CONNECTIONS}, ${SECONDS} s per measurement, ` +
        `${ROUNDS} rounds in rotation; p50/p99 = median of the rounds' wrk percentiles)`,
    );
    console.table(
      VARIANTS.map((v) => {
        const values = of(v.key);
        return {
          variant: v.key,
          'req/s median': Math.round(median(values)).toLocaleString('en-US'),
          'req/s min..max': `${Math.round(Math.min(...values))}..${Math.round(Math.max(...values))}`,
          'p50 ms': median(p50.get(v.key) ?? []).toFixed(2),
          'p99 ms': median(p99.get(v.key) ?? []).toFixed(2),
          'server CPU µs/req': median(cpu.get(v.key) ?? []).toFixed(1),
        };
      }),
    );
    // CPU per request is the steadier figure on a shared machine: its ratio (baseline over case, so
    // that above 1 is cheaper in both columns) is what req/s would be on a core of its own.
    const cpuOf = (key: string) => cpu.get(key) ?? [];
    console.log('ratios, round by round: median (min-max)');
    console.table(
      RATIOS.map(([a, b, label]) => ({
        ratio: label,
        'req/s': ratioText(of(a).map((value, i) => value / (of(b)[i] ?? value))),
        'CPU per request (inverse)': ratioText(cpuOf(a).map((value, i) => (cpuOf(b)[i] ?? value) / value)),
      })),
    );
  } finally {
    await Promise.all([...servers.values()].map((s) => stopChild(s.child)));
    await reportListening([...servers.values()].map((s) => s.port));
  }
}

/** Runs the HTTP throughput benchmark; every server and wrk process is gone when it returns or throws. */
export async function benchHttp(): Promise<void> {
  const probe = spawnSync(WRK, ['--version'], { encoding: 'utf8' });
  if (probe.error) {
    throw new Error(`the http benchmark needs wrk (apt-get install -y wrk, or BENCH_WRK=/path/to/wrk)`);
  }
  await withChildren(benchThroughput);
}
