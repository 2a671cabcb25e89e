/**
 * Alert writes to the real Redis (`npm run bench -- alerts`, or `node bench/alerts.bench.ts`).
 *
 * 1. The headline: alerts offered at a sustained rate (RATES, each for SECONDS, paced by a 1 ms timer
 *    and offered in the slice due at each tick, never as one burst) through the sink exactly as the
 *    sidecar builds it (`buildAlerts` over `connectRedis`, default options: buffer, batch size,
 *    command timeout), dedup off so that every alert is a record. Against raw ioredis at the same
 *    offered rate: each tick's records built and serialised as the sink must, written with
 *    MULTI + LPUSH + LTRIM in batches of at most 500, pipelined. Per rate: offered, written (LLEN of
 *    the list afterwards; the cap is raised above anything offered so that LLEN counts every record),
 *    dropped (the sink's counter, with its reason), the most records queued at any tick (the sink's
 *    buffer against its bound; raw: sent, not yet acknowledged), failed writes, written/s and its
 *    ratio to raw in the same round, the time to drain after offering stopped, and event-loop lag
 *    while offering.
 * 2. Capacity: one burst of BURST records, the sink's buffer raised to hold it, against raw ioredis;
 *    and the same burst with the default buffer, to show what it keeps.
 */
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { AlertSink, RedisAlertStore } from '../src/alerts/index.ts';
import { ALERT_LISTS, buildAlert } from '../src/alerts/schema.ts';
import { loadConfig } from '../src/config.ts';
import { setLogLevel } from '../src/shared/logger.ts';
import { closeRedisClient } from '../src/shared/redis.ts';
import { buildAlerts, connectRedis } from '../src/telemetry/storage.ts';
import { median, ratioText } from './lib.ts';
import { deleteKeys } from './redis.ts';

/** Offered rates, alerts per second; `BENCH_ALERT_RATES` (comma-separated) replaces them. */
const RATES: readonly number[] = ratesFrom(process.env.BENCH_ALERT_RATES) ?? [5_000, 20_000, 50_000];
/** Seconds each rate is offered for. */
const SECONDS = 5;
/** Rounds per rate; raw and sink alternate which goes first. */
const ROUNDS = 3;
/** Records per raw MULTI: the sink's default batch size. */
const RAW_BATCH = 500;
/**
 * Cap of the lists (`ALERT_LIST_MAX`, its highest allowed value): above the most any run offers, so
 * LTRIM never removes a record and LLEN afterwards is the number written.
 */
const LIST_MAX = 1_000_000;
/** Longest wait for what was offered to be written after offering stopped. */
const DRAIN_TIMEOUT_MS = 60_000;
/** Records of the capacity burst. */
const BURST = 20_000;
/** The event-loop delay histogram's sampling timer, ms; its own period is subtracted from each figure. */
const LAG_RESOLUTION_MS = 1;

/** Rates from `text` ("5000,100000"), or `undefined` when it is unset; throws on anything else. */
function ratesFrom(text: string | undefined): number[] | undefined {
  if (text === undefined || text === '') return undefined;
  const rates = text.split(',').map(Number);
  if (!rates.every((rate) => Number.isInteger(rate) && rate > 0)) {
    throw new Error(`BENCH_ALERT_RATES must list positive whole numbers, not "${text}"`);
  }
  return rates;
}

function input(i: number) {
  return {
    type: 'target_exceeded' as const,
    service: 'bench',
    operation: `op_${i % 1000}`,
    value: 3.2,
    threshold: 2,
    unit: 's' as const,
    summary: `Operation "op_${i % 1000}" took 3.200 s, over its 2 s target (1.6x).`,
    trace: { trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331', sampled: true },
  };
}

/** Event-loop lag while offering, ms beyond the sampling period. */
interface Lag {
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

/** One run of one case at one rate. */
interface Run {
  readonly offered: number;
  /** LLEN of the list afterwards. */
  readonly written: number;
  /** Records the sink counted as written (raw: the records of the MULTIs that succeeded). */
  readonly counted: number;
  readonly dropped: number;
  /** Writes that failed (the sink retries them; raw counts its failed MULTIs). */
  readonly failedWrites: number;
  /** Records still waiting at the drain deadline (0 when everything was written in time). */
  readonly leftBuffered: number;
  /**
   * Most records waiting at any tick: the sink's buffer (its bound is `bufferMax`), raw's records
   * sent and not yet acknowledged (unbounded).
   */
  readonly peakQueued: number;
  /** Records written per second, from the first offer to the last write. */
  readonly writtenPerSecond: number;
  /** From the end of offering to the last write, ms. */
  readonly drainMs: number;
  readonly lag: Lag;
}

/** Starts measuring event-loop delay; the returned function stops and reads it. */
function lagMonitor(): () => Lag {
  const histogram = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
  histogram.enable();
  return () => {
    histogram.disable();
    // The histogram records the period between firings of its timer, the resolution included.
    const ms = (ns: number) => Math.max(0, ns / 1e6 - LAG_RESOLUTION_MS);
    return { p50: ms(histogram.percentile(50)), p99: ms(histogram.percentile(99)), max: ms(histogram.max) };
  };
}

/**
 * Offers `rate × SECONDS` items, paced: every 1 ms timer tick hands `slice` the items due by then
 * (about rate/1000; more only when the loop fell behind, as an open-loop source would). Resolves
 * with the number offered once the last is handed over.
 */
function paced(rate: number, slice: (from: number, to: number) => void): Promise<number> {
  const total = rate * SECONDS;
  return new Promise((resolve) => {
    const started = performance.now();
    let offered = 0;
    const tick = () => {
      const due = Math.min(total, Math.floor((rate * (performance.now() - started)) / 1000));
      if (due > offered) {
        slice(offered, due);
        offered = due;
      }
      if (offered >= total) resolve(offered);
      else setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
  });
}

/** Rejects past `ms`, so that a stuck Redis fails the benchmark instead of hanging it. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` every `everyMs` until it holds; false if `limitMs` passed first. */
async function pollUntil(check: () => boolean | Promise<boolean>, limitMs: number, everyMs = 5) {
  const deadline = performance.now() + limitMs;
  while (!(await check())) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return true;
}

/** The sink as the sidecar builds it with its defaults; dedup off, the list cap raised, own prefix. */
async function sinkRun(url: string, admin: Redis, keyPrefix: string, rate: number): Promise<Run> {
  const config = loadConfig({
    REDIS_URL: url,
    ALERT_REPEAT_SECONDS: '0',
    ALERT_LIST_MAX: String(LIST_MAX),
    ALERT_KEY_PREFIX: keyPrefix,
  });
  const redis = connectRedis(config, undefined, undefined);
  if (redis === undefined) throw new Error('no Redis connection for the sink');
  const sink = buildAlerts(config, undefined, redis, undefined);
  try {
    if (!(await pollUntil(() => sink.available, 10_000))) throw new Error(`Redis at ${url} does not answer`);
    let peakQueued = 0;
    const stop = lagMonitor();
    const started = performance.now();
    const offered = await paced(rate, (from, to) => {
      for (let i = from; i < to; i++) sink.emit(input(i));
      peakQueued = Math.max(peakQueued, sink.stats().buffered);
    });
    const lag = stop();
    const offeringEnded = performance.now();
    // flush() returns early when a write failed (a retry is scheduled), hence the poll around it.
    await pollUntil(
      async () => {
        await sink.flush();
        return sink.stats().buffered === 0;
      },
      DRAIN_TIMEOUT_MS,
      10,
    );
    const drainedAt = performance.now();
    const stats = sink.stats();
    const written = await admin.llen(sink.listName(ALERT_LISTS.performance));
    return {
      offered,
      written,
      counted: stats.written,
      dropped: stats.dropped,
      failedWrites: stats.failedWrites,
      leftBuffered: stats.buffered,
      peakQueued,
      writtenPerSecond: written / ((drainedAt - started) / 1000),
      drainMs: drainedAt - offeringEnded,
      lag,
    };
  } finally {
    await sink.close();
    const client = await redis.owned;
    if (client) await closeRedisClient(client);
    await deleteKeys(url, keyPrefix);
  }
}

/** Raw ioredis at the same offered rate: each tick's records built, serialised and pipelined. */
async function rawRun(raw: Redis, list: string, rate: number): Promise<Run> {
  const writes: Promise<void>[] = [];
  let sent = 0;
  let counted = 0;
  let failedWrites = 0;
  let failedRecords = 0;
  let peakQueued = 0;
  const stop = lagMonitor();
  const started = performance.now();
  const offered = await paced(rate, (from, to) => {
    for (let i = from; i < to; i += RAW_BATCH) {
      const batch: string[] = [];
      for (let j = i; j < Math.min(to, i + RAW_BATCH); j++) batch.push(JSON.stringify(buildAlert(input(j))));
      writes.push(
        raw
          .multi()
          .lpush(list, ...batch)
          .ltrim(list, 0, LIST_MAX - 1)
          .exec()
          .then(
            () => {
              counted += batch.length;
            },
            () => {
              failedWrites++;
              failedRecords += batch.length;
            },
          ),
      );
      sent += batch.length;
    }
    peakQueued = Math.max(peakQueued, sent - counted - failedRecords);
  });
  const lag = stop();
  const offeringEnded = performance.now();
  await within(Promise.all(writes), DRAIN_TIMEOUT_MS, 'raw writes');
  const drainedAt = performance.now();
  const written = await raw.llen(list);
  await raw.unlink(list);
  return {
    offered,
    written,
    counted,
    dropped: 0,
    failedWrites,
    leftBuffered: 0,
    peakQueued,
    writtenPerSecond: written / ((drainedAt - started) / 1000),
    drainMs: drainedAt - offeringEnded,
    lag,
  };
}

const count = (n: number) => Math.round(n).toLocaleString('en-US');

/** `median (min-max)` of counts. */
function spread(values: readonly number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `${count(median(sorted))} (${count(sorted[0] ?? Number.NaN)}-${count(sorted.at(-1) ?? Number.NaN)})`;
}

/** The sustained-rate table: per rate, raw then the sink, medians over the rounds. */
async function sustained(url: string, raw: Redis, prefix: string): Promise<void> {
  const bufferMax = loadConfig({}).alerts.bufferMax;
  const rows = [];
  const notes: string[] = [];
  for (const rate of RATES) {
    const runs: { raw: Run[]; sink: Run[] } = { raw: [], sink: [] };
    for (let round = 0; round < ROUNDS; round++) {
      const runRaw = async () => runs.raw.push(await rawRun(raw, `${prefix}raw:${rate}:${round}`, rate));
      const runSink = async () => runs.sink.push(await sinkRun(url, raw, `${prefix}${rate}:${round}:`, rate));
      // Alternate which side goes first, so that neither always runs on a warmer process.
      if (round % 2 === 0) {
        await runRaw();
        await runSink();
      } else {
        await runSink();
        await runRaw();
      }
    }
    const ratios = runs.sink.map(
      (s, i) => s.writtenPerSecond / (runs.raw[i]?.writtenPerSecond ?? Number.NaN),
    );
    for (const [name, list, isSink] of [
      ['raw ioredis', runs.raw, false],
      ['AlertSink, defaults', runs.sink, true],
    ] as const) {
      const m = (f: (r: Run) => number) => median(list.map(f));
      rows.push({
        'offered/s': count(rate),
        case: name,
        offered: count(m((r) => r.offered)),
        'written (LLEN)': spread(list.map((r) => r.written)),
        dropped: isSink ? `${spread(list.map((r) => r.dropped))}, buffer full` : 'never',
        'peak queued': isSink
          ? `${count(m((r) => r.peakQueued))} of ${count(bufferMax)}`
          : count(m((r) => r.peakQueued)),
        'failed writes': count(m((r) => r.failedWrites)),
        'written/s': count(m((r) => r.writtenPerSecond)),
        'x raw written/s': isSink ? ratioText(ratios) : '1.00',
        'drain ms': m((r) => r.drainMs).toFixed(0),
        'loop lag p50/p99/max ms': `${m((r) => r.lag.p50).toFixed(1)} / ${m((r) => r.lag.p99).toFixed(1)} / ${Math.max(...list.map((r) => r.lag.max)).toFixed(1)}`,
      });
      for (const [round, r] of list.entries()) {
        if (r.counted !== r.written || r.leftBuffered > 0 || r.offered !== r.written + r.dropped)
          notes.push(
            `  ${name} at ${count(rate)}/s, round ${round + 1}: offered ${count(r.offered)}, LLEN ${count(r.written)}, counted written ${count(r.counted)}, dropped ${count(r.dropped)}, still buffered ${count(r.leftBuffered)}`,
          );
      }
    }
  }
  console.log(
    `\nalerts offered at a sustained rate for ${SECONDS} s each (1 ms ticks), dedup off; median of ${ROUNDS} rounds (x raw: median (min-max) per round; lag: median p50 and p99, largest max)`,
  );
  console.table(rows);
  if (notes.length > 0) {
    console.log('runs where offered ≠ written + dropped, or the sink counted otherwise than LLEN:');
    for (const note of notes) console.log(note);
  }
}

/** The capacity burst (the former headline): BURST records at once. */
async function burst(url: string, raw: Redis, prefix: string): Promise<void> {
  const rawRates: number[] = [];
  const sinkRates: number[] = [];
  const defaultKept: number[] = [];
  const defaultDropped: number[] = [];
  for (let round = 0; round < 5; round++) {
    // Raw ioredis: build and serialise each record inside the timing, as the sink must.
    const rawList = `${prefix}burst-raw`;
    let start = performance.now();
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < BURST; i += RAW_BATCH) {
      const batch: string[] = [];
      for (let j = i; j < i + RAW_BATCH; j++) batch.push(JSON.stringify(buildAlert(input(j))));
      writes.push(
        raw
          .multi()
          .lpush(rawList, ...batch)
          .ltrim(rawList, 0, BURST - 1)
          .exec(),
      );
    }
    await within(Promise.all(writes), DRAIN_TIMEOUT_MS, 'raw burst');
    rawRates.push(BURST / ((performance.now() - start) / 1000));
    await raw.unlink(rawList);

    // The sink with its buffer raised to hold the whole burst: its throughput, nothing dropped.
    const client = new Redis(url, { enableOfflineQueue: false, commandTimeout: 5000 });
    const store = new RedisAlertStore({ client, listMax: BURST, ownsClient: true });
    if (!(await pollUntil(() => client.status === 'ready', 10_000))) throw new Error('Redis does not answer');
    const sink = new AlertSink({
      store,
      repeatSeconds: 0,
      bufferMax: BURST,
      keyPrefix: `${prefix}burst:${round}:`,
      batchSize: RAW_BATCH,
    });
    start = performance.now();
    for (let i = 0; i < BURST; i++) sink.emit(input(i));
    await within(sink.flush(), DRAIN_TIMEOUT_MS, 'sink burst');
    sinkRates.push(BURST / ((performance.now() - start) / 1000));
    if (sink.stats().written !== BURST) throw new Error(`sink wrote ${sink.stats().written} of ${BURST}`);
    await sink.close();

    // The same burst with the default buffer (as the sidecar builds the sink): what it keeps.
    const config = loadConfig({
      REDIS_URL: url,
      ALERT_REPEAT_SECONDS: '0',
      ALERT_KEY_PREFIX: `${prefix}burst-default:${round}:`,
    });
    const redis = connectRedis(config, undefined, undefined);
    if (redis === undefined) throw new Error('no Redis connection for the sink');
    const defaults = buildAlerts(config, undefined, redis, undefined);
    if (!(await pollUntil(() => defaults.available, 10_000))) throw new Error('Redis does not answer');
    for (let i = 0; i < BURST; i++) defaults.emit(input(i));
    await within(defaults.flush(), DRAIN_TIMEOUT_MS, 'default sink burst');
    defaultKept.push(defaults.stats().written);
    defaultDropped.push(defaults.stats().dropped);
    await defaults.close();
    const owned = await redis.owned;
    if (owned) await closeRedisClient(owned);
  }
  const rawRate = median(rawRates);
  const sinkRate = median(sinkRates);
  console.log(
    `\nalert burst capacity: ${count(BURST)} records emitted at once, batches of ${RAW_BATCH}, median of 5 rounds`,
  );
  console.table([
    {
      case: 'raw ioredis MULTI LPUSH+LTRIM, buildAlert + JSON.stringify in the loop',
      'records/s': count(rawRate),
      'x baseline': '1.00',
    },
    {
      case: `AlertSink.emit + flush, bufferMax raised to ${count(BURST)}`,
      'records/s': count(sinkRate),
      'x baseline': ratioText(sinkRates.map((s, i) => s / (rawRates[i] ?? Number.NaN))),
    },
  ]);
  console.log(
    `  the same burst with the default buffer (ALERT_BUFFER_MAX ${count(loadConfig({}).alerts.bufferMax)}): ${count(median(defaultKept))} written, ${count(median(defaultDropped))} dropped (buffer full)`,
  );
}

/** Runs the alert benchmarks against the Redis at `url`. */
export async function benchAlertWrites(url: string): Promise<void> {
  setLogLevel('error');
  const raw = new Redis(url);
  const prefix = `perf-bench-alerts:${randomUUID().slice(0, 8)}:`;
  try {
    await sustained(url, raw, prefix);
    await burst(url, raw, prefix);
  } finally {
    await raw.quit();
    await deleteKeys(url, prefix);
  }
}

if (import.meta.main) await benchAlertWrites(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
