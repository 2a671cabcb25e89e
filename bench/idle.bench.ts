/**
 * Idle memory (`npm run bench -- idle`; it runs the built `dist/`: `npm run build` first): the
 * resident memory of perf-sidecar started exactly as `npm start` starts it (`node --import
 * ./dist/register.js ./dist/server.js`, compiled JavaScript), doing nothing, against a baseline
 * process: what a user writes by hand for an equivalent app traced and measured with the same
 * OpenTelemetry packages (`bench/idle-baseline-register.mjs` and `bench/idle-baseline.mjs`: a bare
 * Hono app on @hono/node-server with a `/metrics` route, a pg Pool, an ioredis client, the SDK's
 * tracer and meter providers with the Prometheus exporter, the http, pg, ioredis and runtime-node
 * instrumentations under import-in-the-middle's hook; plain JavaScript, as the sidecar runs).
 *
 * Processes, each measured on its own:
 * - `baseline`: the above, import-in-the-middle's hook on Node's loader thread as its documentation
 *   shows it;
 * - `baseline, loader hook in the main thread`: the same with the hook in the main thread
 *   (`module.registerHooks`), as perf-sidecar's own server runs it where Node can: the like-for-like
 *   baseline, since the loader thread alone holds about 25 MiB;
 * - `perf-sidecar (npm start)`: its defaults, which include the OTLP receivers (HTTP and gRPC);
 * - `perf-sidecar, PERF_INGEST=false`: without the receivers, the closest to the baseline's work.
 *
 * Memory-only (no REDIS_URL), then with Redis when BENCH_REDIS_URL answers (the sidecar with
 * `REDIS_URL` and an `ALERT_KEY_PREFIX` of its own, whose keys are deleted afterwards; the baseline
 * with its ioredis client connected). Each process is started, polled over HTTP until it answers
 * (the sidecar's `/readyz`, so that Redis is connected; the baseline connects before it listens),
 * left alone BENCH_IDLE_SETTLE_SECONDS (3), then its `VmRSS` (/proc/<pid>/status) is read every
 * 250 ms for BENCH_IDLE_SAMPLE_SECONDS (3) and the median of those taken, and it is stopped. The
 * processes run one at a time, in an order reversed every round, BENCH_IDLE_ROUNDS (5) rounds; each
 * ratio is taken against the same round's baseline and printed as median (min-max).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { median, ratioText } from './lib.ts';
import { ChildProcesses, residentBytes, sidecarEnv, stopChild } from './process.ts';
import { deleteKeys, redisAnswers } from './redis.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_IDLE_ROUNDS ?? 5);
const SETTLE_SECONDS = Number(process.env.BENCH_IDLE_SETTLE_SECONDS ?? 3);
const SAMPLE_SECONDS = Number(process.env.BENCH_IDLE_SAMPLE_SECONDS ?? 3);
const SAMPLE_EVERY_MS = 250;
/** How long a process may take to answer HTTP after its start. */
const READY_TIMEOUT_MS = 30_000;
const MIB = 1024 * 1024;

/** Every process started here. */
const processes = new ChildProcesses();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One process under measurement. */
interface Case {
  readonly name: string;
  /** Arguments of `node`, run in the repository's root. */
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Path polled until it answers 200. */
  readonly readyPath: string;
}

/** The cases of one variant; the first is the baseline. */
function cases(extra: Record<string, string>, baselineExtra: Record<string, string>): Case[] {
  const sidecar = ['--import', './dist/register.js', './dist/server.js'];
  return [
    {
      name: 'baseline: Hono + pg + ioredis + OTel SDK',
      args: ['--import', './bench/idle-baseline-register.mjs', './bench/idle-baseline.mjs'],
      env: sidecarEnv(baselineExtra),
      readyPath: '/livez',
    },
    {
      name: 'baseline, loader hook in the main thread',
      args: ['--import', './bench/idle-baseline-register.mjs', './bench/idle-baseline.mjs'],
      env: sidecarEnv({ ...baselineExtra, BENCH_IDLE_IN_THREAD: '1' }),
      readyPath: '/livez',
    },
    { name: 'perf-sidecar (npm start)', args: sidecar, env: sidecarEnv(extra), readyPath: '/readyz' },
    {
      name: 'perf-sidecar, PERF_INGEST=false',
      args: sidecar,
      env: sidecarEnv({ ...extra, PERF_INGEST: 'false' }),
      readyPath: '/readyz',
    },
  ];
}

/**
 * The base URL the process prints on stdout: the first JSON line with a `url` (the sidecar's
 * start-up line, the baseline's only line). Its stdout is drained afterwards.
 */
function printedUrl(child: ChildProcess, timeoutMs: number): Promise<string> {
  const lines = createInterface({ input: child.stdout ?? process.stdin });
  return new Promise((resolve, reject) => {
    let found = false;
    const timer = setTimeout(() => done(new Error(`no URL printed within ${timeoutMs} ms`)), timeoutMs);
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`exited (code ${code}, signal ${signal}) before printing its URL`));
    function done(error: Error | undefined, url?: string) {
      clearTimeout(timer);
      child.off('exit', onExit);
      found = true;
      if (error) reject(error);
      else resolve(url ?? '');
    }
    lines.on('line', (line) => {
      if (found || !line.startsWith('{')) return;
      const url = (JSON.parse(line) as { url?: unknown }).url;
      if (typeof url === 'string') done(undefined, url);
    });
    child.once('exit', onExit);
  });
}

/** Polls `url` until it answers 200, every 50 ms, until `deadline` (a `Date.now()` value). */
async function answers(url: string, deadline: number): Promise<void> {
  let last = '';
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      if (response.status === 200) return;
      last = `status ${response.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await sleep(50);
  }
  throw new Error(`${url} did not answer 200 in time (last: ${last})`);
}

/** Starts `c`, waits until it answers, lets it settle, and returns the median of its RSS samples (bytes). */
async function measure(c: Case): Promise<number> {
  const child = processes.add(
    spawn(process.execPath, [...c.args], { cwd: ROOT, env: c.env, stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  const pid = child.pid;
  try {
    if (pid === undefined) throw new Error('no pid');
    const deadline = Date.now() + READY_TIMEOUT_MS;
    const url = await printedUrl(child, READY_TIMEOUT_MS);
    await answers(`${url}${c.readyPath}`, deadline);
    await sleep(SETTLE_SECONDS * 1000);
    const samples: number[] = [];
    const until = performance.now() + SAMPLE_SECONDS * 1000;
    while (performance.now() < until) {
      samples.push(residentBytes(pid));
      await sleep(SAMPLE_EVERY_MS);
    }
    return median(samples);
  } catch (error) {
    throw new Error(`${c.name}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    await stopChild(child);
  }
}

/** Measures `list` over the rounds and prints one table; the first case is the baseline. */
async function compareRss(title: string, list: readonly Case[]): Promise<void> {
  const rss = new Map<string, number[]>(list.map((c) => [c.name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const ordered = round % 2 === 0 ? list : [...list].reverse();
    for (const c of ordered) rss.get(c.name)?.push(await measure(c));
  }
  const base = rss.get(list[0]?.name ?? '') ?? [];
  const mib = (values: readonly number[]) => {
    const sorted = [...values].sort((a, b) => a - b).map((v) => (v / MIB).toFixed(1));
    return `${(median(values) / MIB).toFixed(1)} (${sorted[0]}-${sorted.at(-1)})`;
  };
  console.log(
    `\nIdle RSS, ${title}: ${ROUNDS} rounds, each process alone, ${SETTLE_SECONDS} s after it answered, ` +
      `median of ${SAMPLE_SECONDS} s of samples (MiB: median (min-max) over rounds; ratio: median (min-max) per round)`,
  );
  console.log('| process | RSS MiB | x baseline |');
  console.log('| --- | --- | --- |');
  for (const c of list) {
    const mine = rss.get(c.name) ?? [];
    const ratios = mine.map((value, i) => value / (base[i] ?? Number.NaN));
    console.log(`| ${c.name} | ${mib(mine)} | ${ratioText(ratios)} |`);
  }
}

/** Prints the idle RSS tables, memory-only and (when Redis answers at `redisUrl`) with Redis. */
export async function benchIdle(redisUrl: string): Promise<void> {
  if (!existsSync(new URL('../dist/server.js', import.meta.url))) {
    throw new Error('the idle benchmark runs the built sidecar: run `npm run build` first');
  }
  await processes.guard(async () => {
    await compareRss('memory-only (no REDIS_URL)', cases({}, {}));
    if (!(await redisAnswers(redisUrl))) {
      console.log(`\nIdle RSS with Redis: skipped, no Redis answers at ${redisUrl}`);
      return;
    }
    const prefix = `bench-idle-${randomUUID().slice(0, 8)}:`;
    try {
      await compareRss(
        `with Redis (REDIS_URL, ALERT_KEY_PREFIX=${prefix})`,
        cases({ REDIS_URL: redisUrl, ALERT_KEY_PREFIX: prefix }, { REDIS_URL: redisUrl }),
      );
    } finally {
      console.log(`deleted ${await deleteKeys(redisUrl, prefix)} Redis keys under ${prefix}`);
    }
  });
}
