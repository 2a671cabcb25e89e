/**
 * Reads the budget counts every instance writes with its rollup minutes (`slo:m:*`, `slo:h:*`,
 * `slo:d:*`; see `semconv.ts`) into a {@link BudgetBook}: everything once (the last 6 h of minutes,
 * 3 d of hours, 92 days), then, every minute, only the buckets that can still change (the last few
 * minutes, this hour and the one before, today and yesterday). A refresh is ten `HGETALL`s and one
 * for the objectives, whatever the traffic and the number of operations.
 */
import type { Redis } from 'ioredis';
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
  if (!Number.isInteger(length) || length < 0 || colon + 1 + length > field.length) return undefined;
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

/** See the module comment. */
export class RedisBudgetSource {
  #loaded = false;
  /** Commands sent by the last load or refresh (for the benchmark). */
  lastCommands = 0;

  /**
   * @param client the connection (not closed here).
   * @param prefix the key prefix (`ALERT_KEY_PREFIX`).
   */
  constructor(client: Promise<Redis>, prefix: string) {
    this.client = client;
    this.prefix = prefix;
  }

  /** The connection (not closed here). */
  readonly client: Promise<Redis>;
  /** The key prefix. */
  readonly prefix: string;

  /**
   * Brings `book` up to minute `last`: a full load the first time, a refresh after. Returns the
   * objectives the writers resolved, by budget field name. Rejects when Redis does not answer.
   */
  async update(book: BudgetBook, last: number): Promise<Map<string, Objective>> {
    const client = await this.client;
    return untraced(async () => {
      const wanted: [Level, number][] = [];
      const span = (level: Level, count: number, unit: number) => {
        const to = Math.floor(last / unit);
        for (let id = to - count + 1; id <= to; id++) wanted.push([level, id]);
      };
      if (this.#loaded) {
        span('minute', REREAD_MINUTES, 1);
        span('hour', 2, 60);
        span('day', 2, 1440);
      } else {
        span('minute', MINUTE_SLOTS, 1);
        span('hour', HOUR_SLOTS, 60);
        span('day', DAY_SLOTS, 1440);
      }
      const pipeline = client.pipeline();
      for (const [level, id] of wanted) pipeline.hgetall(bucketKey(this.prefix, level, id));
      pipeline.hgetall(`${this.prefix}${SLO_KEYS.specs}`);
      const results = (await pipeline.exec()) ?? [];
      this.lastCommands = wanted.length + 1;
      for (const [i, [level, id]] of wanted.entries()) {
        const [error, hash] = results[i] ?? [new Error('no reply')];
        if (error) throw error;
        const counts = new Map<string, RunCounts>();
        for (const [field, value] of Object.entries(hash as Record<string, string>)) {
          const stat = field.slice(0, 2);
          const n = Number(value);
          if (!Number.isFinite(n)) continue;
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
      }
      this.#loaded = true;
      const specs = new Map<string, Objective>();
      const [specError, specHash] = results[wanted.length] ?? [new Error('no reply')];
      if (specError) throw specError;
      for (const [name, text] of Object.entries(specHash as Record<string, string>)) {
        const objective = decodeObjective(text);
        if (objective) specs.set(name, objective);
      }
      return specs;
    });
  }

  /** The latest bad run written for each of `fields` (`trace span sampled ms`), when there is one. */
  async badRuns(fields: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (fields.length === 0) return out;
    const client = await this.client;
    const values = await untraced(() => client.hmget(`${this.prefix}${SLO_KEYS.traces}`, ...fields));
    for (const [i, value] of values.entries())
      if (typeof value === 'string') out.set(fields[i] as string, value);
    return out;
  }
}
