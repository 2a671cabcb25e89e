/**
 * Reads the budget counts every instance writes with its rollup minutes (`slo:m:*`, `slo:h:*`,
 * `slo:d:*`; see `semconv.ts`) into a {@link BudgetBook}: everything once (the last 6 h of minutes,
 * 3 d of hours, 92 days), then, every minute, only the buckets that can still change (the last few
 * minutes, this hour and the one before, today and yesterday). A refresh is ten `HGETALL`s and two
 * for the objectives, whatever the traffic and the number of operations. Hashes are read one per
 * round trip, with a turn of the event loop after each: no round trip nears the command timeout,
 * no reply is parsed in one long piece, and the process keeps serving while it reads (a pipeline of
 * ten 3,000-field hashes stalled the loop for 30 to 45 ms; one at a time, about 10 ms).
 */
import type { RedisClient } from '../shared/redis.ts';
import { untraced } from '../shared/tracing.ts';
import { type BudgetBook, DAY_SLOTS, HOUR_SLOTS, type Level, MINUTE_SLOTS, type RunCounts } from './book.ts';
import { decodeObjective, type Objective } from './objectives.ts';
import { SLO_KEYS } from './semconv.ts';

/** Minutes re-read by every refresh: an instance writes its minute a little after it ends, or later after a Redis outage. */
export const REREAD_MINUTES = 6;

/** Parts of a budget field name: `undefined` when it is not one. */
export function parseFieldName(
  field: string,
): { service: string | undefined; operation: string } | undefined {
  const colon = field.indexOf(':');
  if (colon <= 0) return undefined;
  const length = Number(field.slice(0, colon));
  // Canonical lengths only (`8`, not `08` or ` 8`): one operation has one field name.
  if (!Number.isInteger(length) || String(length) !== field.slice(0, colon)) return undefined;
  if (colon + 1 + length > field.length) return undefined;
  const rest = field.slice(colon + 1);
  if (length === 0) return rest.length > 0 ? { service: undefined, operation: rest } : undefined;
  const operation = rest.slice(length);
  return operation.length > 0 ? { service: rest.slice(0, length), operation } : undefined;
}

/** The key of a bucket of `level`, its id counted in buckets since the epoch. */
export function bucketKey(prefix: string, level: Level, id: number): string {
  if (level === 'day')
    return `${prefix}${SLO_KEYS.day}${new Date(id * 86_400_000).toISOString().slice(0, 10)}`;
  if (level === 'hour')
    return `${prefix}${SLO_KEYS.hour}${new Date(id * 3_600_000).toISOString().slice(0, 13)}`;
  const iso = new Date(id * 60_000).toISOString();
  return `${prefix}${SLO_KEYS.minute}${iso.slice(0, 13)}:${iso.slice(14, 16)}`;
}

/** Hashes read between two notes of the full load's progress. */
const LOAD_CHUNK = 4;

/** See the module comment. */
export class RedisBudgetSource {
  /** Buckets read by a full load still going on (`level:id`); `undefined` once loaded. */
  #loadedBuckets: Set<string> | undefined = new Set();
  /** Commands sent by the last update (for the benchmark and the docs). */
  lastCommands = 0;

  constructor(client: Promise<RedisClient>, prefix: string) {
    this.client = client;
    this.prefix = prefix;
  }

  /** The connection (not closed here). */
  readonly client: Promise<RedisClient>;
  /** The key prefix. */
  readonly prefix: string;

  /**
   * Brings `book` up to minute `last`: the full load first (in chunks; a load cut short by a
   * failure goes on where it stopped at the next update), then the buckets that can still change.
   * Returns the objectives the writers resolved (today's over yesterday's), by budget field name.
   * Rejects when Redis does not answer.
   */
  async update(book: BudgetBook, last: number): Promise<Map<string, Objective>> {
    const client = await this.client;
    return untraced(async () => {
      this.lastCommands = 0;
      const loading = this.#loadedBuckets;
      if (loading) {
        const wanted = spanOf(last, MINUTE_SLOTS, HOUR_SLOTS, DAY_SLOTS).filter(
          ([level, id]) => !loading.has(`${level}:${id}`),
        );
        for (let i = 0; i < wanted.length; i += LOAD_CHUNK) {
          const chunk = wanted.slice(i, i + LOAD_CHUNK);
          await this.#read(client, book, chunk);
          for (const [level, id] of chunk) loading.add(`${level}:${id}`);
        }
        this.#loadedBuckets = undefined;
      }
      // What can still change: late minutes, the current hour and day (and the ones before).
      await this.#read(client, book, spanOf(last, REREAD_MINUTES, 2, 2));
      const day = Math.floor(last / 1440);
      const pipeline = client.pipeline();
      for (const d of [day - 1, day]) pipeline.hgetall(`${this.prefix}${SLO_KEYS.specs}${dateOf(d)}`);
      const results = (await pipeline.exec()) ?? [];
      this.lastCommands += 2;
      const specs = new Map<string, Objective>();
      for (const [error, hash] of results) {
        if (error) throw error;
        for (const [name, text] of Object.entries(hash as Record<string, string>)) {
          const objective = decodeObjective(text);
          if (objective) specs.set(name, objective);
        }
      }
      return specs;
    });
  }

  /** Reads `buckets` in one pipeline and sets them in `book`. */
  async #read(
    client: RedisClient,
    book: BudgetBook,
    buckets: readonly (readonly [Level, number])[],
  ): Promise<void> {
    for (const [level, id] of buckets) {
      // One hash per round trip: a pipeline of large hashes arrives, and is parsed, in one piece.
      const hash = await client.hgetall(bucketKey(this.prefix, level, id));
      this.lastCommands++;
      const counts = new Map<string, RunCounts>();
      for (const [field, value] of Object.entries(hash as Record<string, string>)) {
        const n = Number(value);
        if (!Number.isFinite(n)) continue;
        const stat = field.slice(0, 2);
        const name = field.slice(2);
        let c = counts.get(name);
        if (!c) {
          c = { runs: 0, over: 0, failed: 0 };
          counts.set(name, c);
        }
        if (stat === 'c:') c.runs = n;
        else if (stat === 'b:') c.over = n;
        else if (stat === 'e:') c.failed = n;
      }
      for (const [name, c] of counts) {
        const parts = parseFieldName(name);
        if (!parts) continue;
        book.entry(name, parts.service, parts.operation)?.set(level, id, c);
      }
      await yieldTurn();
    }
  }

  /**
   * The latest bad run written for each of `fields` on the day of minute `last` or the day before
   * (`trace span sampled ms`), when there is one.
   */
  async badRuns(fields: readonly string[], last: number): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (fields.length === 0) return out;
    const client = await this.client;
    const day = Math.floor(last / 1440);
    for (const d of [day - 1, day]) {
      const values = await untraced(() =>
        client.hmget(`${this.prefix}${SLO_KEYS.traces}${dateOf(d)}`, ...fields),
      );
      for (const [i, value] of values.entries())
        if (typeof value === 'string') out.set(fields[i] as string, value);
    }
    return out;
  }
}

/** The buckets of the last `minutes` minutes, `hours` hours and `days` days up to minute `last`. */
function spanOf(last: number, minutes: number, hours: number, days: number): [Level, number][] {
  const out: [Level, number][] = [];
  const add = (level: Level, count: number, unit: number) => {
    const to = Math.floor(last / unit);
    for (let id = to - count + 1; id <= to; id++) out.push([level, id]);
  };
  add('minute', minutes, 1);
  add('hour', hours, 60);
  add('day', days, 1440);
  return out;
}

/** Lets the event loop run (requests, timers) between two pieces of work. */
export function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function dateOf(day: number): string {
  return new Date(day * 86_400_000).toISOString().slice(0, 10);
}
