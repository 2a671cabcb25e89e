/**
 * Part 4 of the `ingest` benchmark (`bench/ingest.bench.ts`): the sidecar process's memory while
 * 10,000 spans/s arrive (100 requests/s of 100 spans, paced), sampled every second.
 *
 * The traffic runs without a break through a warm-up (`BENCH_INGEST_WARMUP_SECONDS`, 120) and then
 * the measured window (`BENCH_INGEST_SECONDS`, 60); only the window is measured. The warm-up is
 * not a leak being hidden: heap snapshots taken 90 s and 400 s into a 420 s run at this rate
 * (4.2 million spans) held the same objects (37.0 MiB of them, within 0.1 MiB). What grows at
 * first is V8 sizing itself to the allocation rate: RSS rises about 20 MiB in the first seconds of
 * traffic and a few more over the next minute, and steps up about 25 MiB when V8 doubles the young
 * generation (new space 32 to 64 MiB), which came 15, 65 and 75 s into three runs. Later V8 may
 * shrink new space again (its memory reducer: RSS down by 50 MiB at once) or, after a backlog,
 * grow it to 128 MiB, so new space is printed at the start and end of the window: a step in RSS
 * within the window is V8 resizing, and shows there.
 *
 * Printed for the window: RSS start, max, end and least-squares slope (MiB/min); the lowest heap
 * used of each 5 s (just after a young-generation collection: what is live plus the old
 * generation's garbage, which rises until a full collection and falls after it), the same four
 * figures; new space; and the most spans waiting for evaluation: on a machine too busy to evaluate
 * 10,000 spans/s, the queue fills towards its bounds (429 answers), and RSS with it, which is a
 * backlog, not warm-up.
 */
import { performance } from 'node:perf_hooks';
import type { ChildStats } from './ingest-child.ts';
import type { RunResult } from './ingest-client.ts';

const MIB = 1024 * 1024;
/** Seconds of which the lowest heap sample is shown (several young-generation collections happen in them). */
const TROUGH_SECONDS = 5;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** What the RSS run needs of the benchmark: the server under test and the load client. */
export interface RssRun {
  /** Spans per request of the client's bodies. */
  readonly spansPerRequest: number;
  /** Spans per second to send. */
  readonly spansPerSecond: number;
  readonly warmupSeconds: number;
  readonly measuredSeconds: number;
  /** Most requests in flight (the pacing rarely needs more than one). */
  readonly maxInFlight: number;
  readonly otlpUrl: string;
  /** The server's figures now. */
  stats(): Promise<ChildStats>;
  /** The server's figures once it has evaluated everything it accepted. */
  drained(): Promise<ChildStats>;
  /** Runs the paced client for `seconds`. */
  send(seconds: number, rate: number, concurrency: number): Promise<RunResult>;
}

interface Sample {
  /** Seconds since the traffic started. */
  readonly t: number;
  readonly rss: number;
  readonly heap: number;
  readonly newSpace: number;
  readonly done: number;
  /** Spans accepted and not yet evaluated: a backlog (the process not keeping up) holds memory. */
  readonly queued: number;
}

/** Least-squares slope of `y` over `x`. */
function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The lowest heap sample of each {@link TROUGH_SECONDS} of `samples`. */
function troughs(samples: readonly Sample[]): Sample[] {
  const out: Sample[] = [];
  for (let from = 0; from < samples.length; from += TROUGH_SECONDS) {
    out.push(samples.slice(from, from + TROUGH_SECONDS).reduce((a, b) => (b.heap < a.heap ? b : a)));
  }
  return out;
}

/** Start, max, end and slope (per minute) of `value` over `samples`. */
function summary(samples: readonly Sample[], value: (s: Sample) => number) {
  const first = samples[0];
  const last = samples[samples.length - 1];
  return {
    start: first ? value(first).toFixed(1) : '',
    max: Math.max(...samples.map(value)).toFixed(1),
    end: last ? value(last).toFixed(1) : '',
    'slope (MiB/min)': (slope(samples.map((s) => ({ x: s.t, y: value(s) }))) * 60).toFixed(2),
  };
}

/** Runs the warm-up and the measured window, and prints the window's figures. */
export async function benchRss(run: RssRun): Promise<void> {
  const rate = run.spansPerSecond / run.spansPerRequest;
  const total = run.warmupSeconds + run.measuredSeconds;
  const samples: Sample[] = [];
  const first = await run.stats();
  const started = performance.now();
  const sample = (s: ChildStats) =>
    samples.push({
      t: (performance.now() - started) / 1000,
      rss: s.rssBytes / MIB,
      heap: s.heapUsedBytes / MIB,
      newSpace: s.newSpaceBytes / MIB,
      done: s.spansDone - first.spansDone,
      queued: s.queuedSpans,
    });
  sample(first);
  const sending = run.send(total, rate, run.maxInFlight);
  let running = true;
  void sending.finally(() => {
    running = false;
  });
  // One sample a second, on schedule (a slow answer does not shift the later ones).
  for (let i = 1; running; i++) {
    await sleep(Math.max(0, started + i * 1000 - performance.now()));
    sample(await run.stats());
  }
  const result = await sending;
  const end = await run.drained();
  const done = end.spansDone - first.spansDone;

  // The window: from the last sample of the warm-up to the last sample while traffic ran.
  const fromIndex = Math.max(0, samples.findIndex((s) => s.t >= run.warmupSeconds) - 1);
  const window = samples.slice(fromIndex).filter((s) => s.t <= total + 1);
  const warmup = samples.slice(0, fromIndex + 1);
  const lows = troughs(window);
  const answers = Object.entries(result.statuses)
    .map(([status, n]) => `${status}: ${n}`)
    .join(', ');
  console.log(
    `\ningest RSS: sidecar process (memory-only, register preload) receiving ${fmt(run.spansPerSecond)} ` +
      `spans/s (${rate} requests/s of ${run.spansPerRequest}, paced, keep-alive), ${run.warmupSeconds} s ` +
      `of warm-up then ${run.measuredSeconds} s measured, sampled every second: ${fmt(done)} spans ` +
      `evaluated (${fmt(done / total)}/s), answers ${answers}, ${result.behind} requests behind schedule, ` +
      `client CPU ${result.cpuPercent.toFixed(0)} %. Absolute MiB: there is no baseline.`,
  );
  const w0 = warmup[0];
  const w1 = warmup[warmup.length - 1];
  if (w0 && w1 && run.warmupSeconds > 0) {
    console.log(
      `warm-up (not measured), 0-${run.warmupSeconds} s: RSS ${w0.rss.toFixed(1)} -> ${w1.rss.toFixed(1)} MiB ` +
        `(max ${Math.max(...warmup.map((s) => s.rss)).toFixed(1)}), V8 new space ${w0.newSpace.toFixed(0)} -> ` +
        `${w1.newSpace.toFixed(0)} MiB, most spans waiting ${fmt(Math.max(...warmup.map((s) => s.queued)))}`,
    );
  }
  const a = window[0];
  const b = window[window.length - 1];
  console.log(
    `measured window, ${a?.t.toFixed(0)}-${b?.t.toFixed(0)} s (${window.length} samples; V8 new space ` +
      `${a?.newSpace.toFixed(0)} -> ${b?.newSpace.toFixed(0)} MiB, max ${Math.max(...window.map((s) => s.newSpace)).toFixed(0)}; ` +
      `most spans waiting for evaluation in a sample ${fmt(Math.max(...window.map((s) => s.queued)))}):`,
  );
  console.table([
    { '': 'RSS MiB', ...summary(window, (s) => s.rss) },
    { '': `heap used MiB, lowest of each ${TROUGH_SECONDS} s`, ...summary(lows, (s) => s.heap) },
  ]);
  const every = 5;
  const shown = (list: readonly Sample[]) =>
    list
      .filter((_, i) => i % every === 0)
      .map((s) => s.rss.toFixed(0))
      .join(' ');
  console.log(`RSS MiB every ${every} s, warm-up: ${shown(warmup)} | measured: ${shown(window)}`);
  console.log(
    `heap used MiB, lowest of each ${TROUGH_SECONDS} s, measured: ${lows.map((s) => s.heap.toFixed(0)).join(' ')}`,
  );
}
