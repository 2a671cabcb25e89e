/**
 * Per-minute operation data in Redis hashes, so that performance reports span restarts and every
 * instance sharing the Redis. The own service's keys are what they have always been:
 *
 * - `metrics:{operation}:{YYYY-MM-DD}`: fields `HHMM|c` (count), `HHMM|e` (errors), `HHMM|b`
 *   (breaches), `HHMM|f` (over 4x target), `HHMM|s` (sum, s), `HHMM|m` (max, s), `HHMM|n` (min, s),
 *   `HHMM|le=<bound>` (bucket counts, only non-empty ones), and `target`.
 * - `user_metrics:{user_id}:{YYYY-MM-DD}`: the same per operation, fields `<operation>|HHMM|...`.
 * - `metrics_index:{YYYY-MM-DD}`: the set of operation names seen that day.
 * - `metrics_summary:{YYYY-MM-DD}`: the service's minutes over all its operations, `HHMM|c`,
 *   `HHMM|e`, `HHMM|b`, and `o|{operation}`: the last minute of the day (0 to 1439) the operation
 *   ran. What the report's list of services reads, one hash per service and day.
 *
 * Every other service (one that exports to the sidecar over OTLP) has the same keys under
 * `svc:{length}:{service}:` (`svc:8:checkout:metrics:GET /cart:2026-11-27`): the length of the
 * name first, so that no service and operation names, whatever characters they hold, can make the
 * key of another pair. `services_index:{YYYY-MM-DD}` is the set of those services seen that day.
 * They are bounded as the services are (`PERF_MAX_SERVICES`, later ones are `_other`), and reads
 * take at most `maxServices` of an index.
 *
 * Counts are added with `HINCRBYFLOAT` and maxima and minima compared in Lua, so writers never
 * overwrite each other; an operation's minute and its share of the summary are one script, so a
 * retried write counts neither twice. Every key expires `retentionDays` after its last write. Keys
 * carry the `ALERT_KEY_PREFIX`. Dates and minutes are UTC.
 */

import { z } from 'zod';
import { accepts, callable, integer, parseOptions } from '../shared/options.ts';
import type { RedisClient } from '../shared/redis.ts';
import { untraced } from '../shared/tracing.ts';
import { sloFieldName } from '../slo/internal.ts';
import {
  SLO_DAY_TTL_SECONDS,
  SLO_FACTS_TTL_SECONDS,
  SLO_HOUR_TTL_SECONDS,
  SLO_KEYS,
  SLO_MINUTE_TTL_SECONDS,
} from '../slo/semconv.ts';
import type { ActivityByService } from './activity.ts';
import { type DurationAggregate, mergeAggregate } from './aggregate.ts';
import type { Minute, PendingMinute, PendingService } from './minutes.ts';
import { readActivity, type SkippedService } from './rollup-activity.ts';
import {
  addMinutesDay,
  addOperationDay,
  addUserDay,
  capped,
  emptyDayTotals,
  finishDayTotals,
  hgetallInChunks,
  type RollupMinutes,
  type RollupQuery,
  type RollupTotals,
} from './rollup-days.ts';
import type { RollupWriter, TargetOf } from './rollup-exporter.ts';
import {
  datesBetween,
  failedParts,
  fieldArgs,
  MinimumTracker,
  minuteParts,
  WRITE_MINUTE,
  WRITE_OPERATION,
  type WrittenPart,
} from './rollup-fields.ts';
import {
  KeptPeriods,
  PAST_PERIODS_MAX_AGGREGATES,
  PastDays,
  RECENT_PERIODS_MAX_AGGREGATES,
  touchesPast,
} from './rollup-past.ts';
import { packTier, readTiers, type TierLevel, type TierTotals, tierKeyName } from './rollup-tiers.ts';

export type { RollupMinutes, RollupQuery, RollupTotals } from './rollup-days.ts';
export { minuteParts };

/** An ioredis client, or a promise of one (the connection made while the preload waits). */
function isClientOrPromise(value: unknown): value is RedisClient | Promise<RedisClient> {
  if (value instanceof Promise) return true;
  return value !== null && typeof value === 'object' && typeof (value as RedisClient).pipeline === 'function';
}

/** Schema of the {@link RedisRollupStore} options: their one description, type and bounds. */
export const redisRollupStoreOptionsSchema = z.strictObject({
  /** The connection (or its promise). Not closed by the store. */
  client: accepts(
    z.custom<RedisClient | Promise<RedisClient>>(isClientOrPromise),
    'an ioredis client or a promise of one',
  ),
  /** Key prefix (`ALERT_KEY_PREFIX`). */
  keyPrefix: accepts(z.string().max(256), 'a string of at most 256 characters'),
  /** Days a key lives after its last write. */
  retentionDays: integer(1, 3660, 'days'),
  /** Most operation names read from one day's index (of one service). */
  maxOperations: integer(1, 10_000_000),
  /** Most services read from one day's services index. Default 101 (`PERF_MAX_SERVICES` + `_other`). */
  maxServices: integer(1, 100_000).default(101),
  /**
   * The error budgets' view of an operation: its objective as text (`0.99/30/1`) when it has one
   * (then its runs are counted into the budget hashes too), and its latest bad run. Default: none.
   */
  budgets: callable<BudgetLookup>(
    'a function (operation, service) returning the budget of an operation',
  ).optional(),
});

/** What the rollups write for the error budgets of an operation of a service (absent: the own one). */
export type BudgetLookup = (
  operation: string,
  service: string | undefined,
) => { readonly objective: string; readonly badRun: string | undefined } | undefined;

/** Options of {@link RedisRollupStore}. */
export type RedisRollupStoreOptions = z.input<typeof redisRollupStoreOptionsSchema>;

/** Expiry of the minute, hour and day budget hashes and of the day's objectives and bad runs, seconds (ARGV[15..18]). */
const BUDGET_TTLS = [
  SLO_MINUTE_TTL_SECONDS,
  SLO_HOUR_TTL_SECONDS,
  SLO_DAY_TTL_SECONDS,
  SLO_FACTS_TTL_SECONDS,
].map(String);

/** The tier hashes an operation's minute is added to, in the order the write script expects. */
const TIER_LEVELS: readonly TierLevel[] = ['minute', 'hour', 'day'];
/** The key (after the prefix) holding the first minute written to the tier hashes. */
const TIERS_SINCE_KEY = 'rollup_tiers_since';
/** The key (after the prefix) counting the writes, so that readers know when to read again. */
const VERSION_KEY = 'rollup_version';
/** Most scripts in one pipeline of a write (about 100 µs of Redis time each). */
const WRITE_CHUNK = 500;
/** The key (after the prefix) counting the writes into days that have ended (late writes). */
const PAST_VERSION_KEY = 'rollup_past_version';

/** How long the first tier minute, once known, is used before it is looked up again, ms. */
const TIERS_SINCE_RECHECK_MS = 60_000;

type Kind = 'metrics' | 'user_metrics' | 'metrics_index' | 'metrics_summary';

/** See the module comment. */
export class RedisRollupStore implements RollupWriter {
  readonly #client: Promise<RedisClient>;
  readonly #options: z.output<typeof redisRollupStoreOptionsSchema>;
  readonly #pastDays = new PastDays<TierTotals>();
  readonly #pastActivity = new PastDays<ActivityByService>();
  readonly #pastPeriods = new KeptPeriods(PAST_PERIODS_MAX_AGGREGATES);
  readonly #recentPeriods = new KeptPeriods(RECENT_PERIODS_MAX_AGGREGATES);
  #since: { readonly minute: Minute; readonly at: number } | undefined;

  /** @throws {InvalidArgumentError} naming the first bad option. */
  constructor(options: RedisRollupStoreOptions) {
    this.#options = parseOptions(redisRollupStoreOptionsSchema, options, { what: 'a rollup store option' });
    this.#client = Promise.resolve(this.#options.client);
    // A failed client promise is reported by whoever made it; reads and writes then reject.
    this.#client.catch(() => undefined);
  }

  /** The key of `kind` (`name` for the kinds that have one) of a day, for a service (absent: the own one). */
  #key(kind: Kind, name: string | undefined, date: string, service: string | undefined): string {
    const scope = service === undefined ? '' : `svc:${service.length}:${service}:`;
    return name === undefined
      ? `${this.#options.keyPrefix}${scope}${kind}:${date}`
      : `${this.#options.keyPrefix}${scope}${kind}:${name}:${date}`;
  }

  /** The tier hash of `level` holding `minute`, of a service (absent: the own one). */
  #tierKey(level: TierLevel, minute: Minute, service: string | undefined): string {
    const scope = service === undefined ? '' : `svc:${service.length}:${service}:`;
    return `${this.#options.keyPrefix}${scope}${tierKeyName(level, minute)}`;
  }

  /** The budget hashes of a minute (and its hour and day), the objectives and the bad-run traces. */
  #budgetKeys(date: string, hhmm: string): string[] {
    const p = this.#options.keyPrefix;
    const hour = `${date}T${hhmm.slice(0, 2)}`;
    return [
      `${p}${SLO_KEYS.minute}${hour}:${hhmm.slice(2)}`,
      `${p}${SLO_KEYS.hour}${hour}`,
      `${p}${SLO_KEYS.day}${date}`,
      `${p}${SLO_KEYS.specs}${date}`,
      `${p}${SLO_KEYS.traces}${date}`,
    ];
  }

  async #ready(): Promise<RedisClient> {
    const client = await this.#client;
    if (client.status !== 'ready') throw new Error('the rollup store has no Redis connection');
    return client;
  }

  async write(minutes: readonly PendingMinute[], targetOf: TargetOf): Promise<PendingMinute[]> {
    const client = await this.#ready();
    const ttl = String(this.#options.retentionDays * 86_400);
    return untraced(async () => {
      // Pipelines of at most WRITE_CHUNK scripts, sent one after the other: Redis runs a pipeline's
      // commands in turn, so a long one would outlast the command timeout for its last commands.
      const pipelines = [client.pipeline()];
      let pipeline = pipelines[0] as ReturnType<RedisClient['pipeline']>;
      const next = () => {
        if (pipeline.length >= WRITE_CHUNK) {
          pipeline = client.pipeline();
          pipelines.push(pipeline);
        }
        return pipeline;
      };
      const parts: WrittenPart[] = [];
      for (const minute of minutes) {
        const { date, hhmm } = minuteParts(minute.minute);
        const ofDay = String(Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(2)));
        const budgetKeys = this.#budgetKeys(date, hhmm);
        // Readers reuse what they read until these change (see `version` and rollup-past.ts).
        const p = this.#options.keyPrefix;
        const versions = [`${p}${VERSION_KEY}`, `${p}${PAST_VERSION_KEY}`];
        const past = touchesPast(minute.minute) ? '1' : '0';
        const write = (service: string | undefined, data: PendingService) => {
          const index = this.#key('metrics_index', undefined, date, service);
          const summary = this.#key('metrics_summary', undefined, date, service);
          const keys = [index, summary, ...budgetKeys];
          for (const level of TIER_LEVELS) keys.push(this.#tierKey(level, minute.minute, service));
          keys.push(`${p}${TIERS_SINCE_KEY}`, ...versions);
          if (service !== undefined) keys.push(`${this.#options.keyPrefix}services_index:${date}`);
          for (const [op, agg] of data.operations) {
            const target = targetOf(op, service);
            const known = target !== undefined && Number.isFinite(target) && target > 0;
            const args = fieldArgs('', agg);
            const counts = [String(agg.count), String(agg.errors), String(agg.breaches ?? 0)];
            const budget = target === undefined ? undefined : this.#options.budgets?.(op, service);
            const breaches = agg.breaches ?? 0;
            counts.push(
              budget === undefined ? '' : sloFieldName(service, op),
              String(agg.count),
              String(breaches),
              String(Math.max(0, agg.errors - (agg.breachedErrors ?? 0))),
              budget?.objective ?? '',
              budget?.badRun ?? '',
              ...BUDGET_TTLS,
              known ? String(target) : '',
              String(minute.minute),
              packTier(agg, known ? target : undefined, minute.minute),
              past,
            );
            const key = this.#key('metrics', op, date, service);
            next().eval(
              WRITE_OPERATION,
              keys.length + 1,
              key,
              ...keys,
              ttl,
              op,
              service ?? '',
              hhmm,
              ofDay,
              ...counts,
              ...args,
            );
            parts.push({ minute: minute.minute, service, operation: op });
          }
          for (const [user, ops] of data.users) {
            const args: string[] = [];
            for (const [op, agg] of ops) args.push(...fieldArgs(`${op}|${hhmm}|`, agg));
            if (args.length === 0) continue;
            const key = this.#key('user_metrics', user, date, service);
            next().eval(WRITE_MINUTE, 3, key, ...versions, ttl, past, ...args);
            parts.push({ minute: minute.minute, service, user });
          }
        };
        write(undefined, minute);
        for (const [service, data] of minute.services ?? []) write(service, data);
      }
      const results: [Error | null, unknown][] = [];
      for (const chunk of pipelines) {
        const size = chunk.length;
        try {
          const replies = await chunk.exec();
          // No replies: the chunk was not run, so it is written again, and so are the later ones.
          if (!replies || replies.length !== size) throw new Error('a rollup write got no replies');
          results.push(...replies);
        } catch (error) {
          // Only the parts that did not run go back to the queue: the earlier chunks are in Redis.
          const failure = error instanceof Error ? error : new Error(String(error));
          while (results.length < parts.length) results.push([failure, null]);
          break;
        }
      }
      return failedParts(minutes, parts, results);
    });
  }

  /** Most operations a read keeps (`maxOperations`): a read holding this many may have left some out. */
  get maxOperations(): number {
    return this.#options.maxOperations;
  }

  /** Reads and merges the stored minutes of the query's range. */
  async read(query: RollupQuery): Promise<RollupTotals> {
    const client = await this.#ready();
    return untraced(async () => {
      const service = query.service;
      const dates = datesBetween(query.fromMinute, query.toMinute);
      if (query.userId !== undefined) {
        const pipeline = client.pipeline();
        for (const date of dates) pipeline.hgetall(this.#key('user_metrics', query.userId, date, service));
        const totals = emptyDayTotals(false);
        for (const [i, [error, hash]] of ((await pipeline.exec()) ?? []).entries()) {
          if (error) throw error;
          addUserDay(totals, dates[i] as string, hash as Record<string, string>, query);
        }
        return finishDayTotals(totals);
      }

      if (query.operation !== undefined) {
        return this.#readDays(client, [query.operation], query.fromMinute, query.toMinute, service);
      }
      // Minutes from the first one written to the tier hashes on are read from those; any before,
      // from the per-operation day hashes (see rollup-tiers.ts).
      const since = await this.#tiersSince(client);
      const split = since === undefined ? query.toMinute + 1 : Math.max(query.fromMinute, since);
      const tiers =
        split <= query.toMinute ? await this.#readTiers(client, split, query.toMinute, service) : undefined;
      if (split <= query.fromMinute && tiers) return tiers;
      const listing = client.pipeline();
      for (const date of datesBetween(query.fromMinute, split - 1)) {
        listing.smembers(this.#key('metrics_index', undefined, date, service));
      }
      const names = capped((await listing.exec()) ?? [], this.#options.maxOperations);
      const days = await this.#readDays(client, names, query.fromMinute, split - 1, service);
      if (!tiers) return days;
      for (const [op, agg] of tiers.operations) {
        const into = days.operations.get(op);
        if (into) mergeAggregate(into, agg);
        else if (days.operations.size < this.#options.maxOperations) days.operations.set(op, agg);
      }
      for (const [op, target] of tiers.targets) days.targets.set(op, target);
      const first = days.firstMinute ?? tiers.firstMinute;
      return { ...days, firstMinute: first };
    });
  }

  /**
   * The version of the stored rollups: it changes with every write of any instance, so a read can
   * be reused for as long as it does not. One round trip (which also refreshes the first tier minute).
   */
  async version(): Promise<string> {
    const client = await this.#ready();
    return untraced(async () => {
      const p = this.#options.keyPrefix;
      const [version, since] = await client.mget(`${p}${VERSION_KEY}`, `${p}${TIERS_SINCE_KEY}`);
      this.#noteSince(since ?? null);
      return version ?? '0';
    });
  }

  /** Keeps the first tier minute read from Redis (not while unset: the next write may set it). */
  #noteSince(text: string | null): Minute | undefined {
    const value = Number(text);
    const minute = value > 0 && Number.isSafeInteger(value) ? value : undefined;
    this.#since = minute === undefined ? undefined : { minute, at: Date.now() };
    return minute;
  }

  /** The first minute written to the tier hashes, if any (looked up again at most once a minute). */
  async #tiersSince(client: RedisClient): Promise<Minute | undefined> {
    if (this.#since && Date.now() - this.#since.at < TIERS_SINCE_RECHECK_MS) return this.#since.minute;
    return this.#noteSince(await client.get(`${this.#options.keyPrefix}${TIERS_SINCE_KEY}`));
  }

  /** The minutes `from` to `to` of every operation, from the tier hashes (see rollup-tiers.ts). */
  #readTiers(
    client: RedisClient,
    from: Minute,
    to: Minute,
    service: string | undefined,
  ): Promise<RollupTotals> {
    return readTiers({
      client,
      from,
      to,
      keyOf: (level, start) => this.#tierKey(level, start, service),
      versionKey: `${this.#options.keyPrefix}${VERSION_KEY}`,
      pastVersionKey: `${this.#options.keyPrefix}${PAST_VERSION_KEY}`,
      pastKey: service ?? '',
      pastDays: this.#pastDays,
      pastPeriods: this.#pastPeriods,
      recentPeriods: this.#recentPeriods,
      maxOperations: this.#options.maxOperations,
    });
  }

  /** The minutes `from` to `to` of the operations `names`, from their day hashes (one per day). */
  async #readDays(
    client: RedisClient,
    names: readonly string[],
    from: Minute,
    to: Minute,
    service: string | undefined,
  ): Promise<RollupTotals> {
    const dates = from <= to ? datesBetween(from, to) : [];
    const keys: [string, string][] = [];
    for (const op of names) for (const date of dates) keys.push([op, date]);
    const totals = emptyDayTotals(true);
    // One operation's day is a small hash: many to a pipeline.
    const hashes = await hgetallInChunks(
      client,
      keys.map(([op, date]) => this.#key('metrics', op, date, service)),
      500,
    );
    for (const [i, hash] of hashes.entries()) {
      const [op, date] = keys[i] as [string, string];
      addOperationDay(totals, op, date, hash, from, to);
    }
    return finishDayTotals(totals);
  }

  /**
   * The stored minutes of one operation of one service (absent: the own one) from `fromMinute` to
   * `toMinute`, each minute apart (what a series is drawn from), and its stored target. The same
   * hashes as {@link read}, one `HGETALL` per day of the range, in one round trip.
   */
  async readMinutes(
    operation: string,
    service: string | undefined,
    fromMinute: Minute,
    toMinute: Minute,
  ): Promise<RollupMinutes> {
    const client = await this.#ready();
    return untraced(async () => {
      const dates = datesBetween(fromMinute, toMinute);
      const pipeline = client.pipeline();
      for (const date of dates) pipeline.hgetall(this.#key('metrics', operation, date, service));
      const minutes = new Map<Minute, DurationAggregate>();
      const minima = new MinimumTracker();
      let target: number | undefined;
      for (const [i, [error, hash]] of ((await pipeline.exec()) ?? []).entries()) {
        if (error) throw error;
        const stored = addMinutesDay(minutes, minima, dates[i] as string, hash as Record<string, string>, {
          fromMinute,
          toMinute,
        });
        if (stored !== undefined) target = stored;
      }
      minima.finish();
      return { minutes, target };
    });
  }

  /**
   * The activity of every service in the range (see {@link readActivity}), but `skip`'s, which a
   * caller that read that service's operations over the same range takes from them instead.
   */
  async readActivity(
    fromMinute: Minute,
    toMinute: Minute,
    skip?: SkippedService,
  ): Promise<ActivityByService> {
    const client = await this.#ready();
    const p = this.#options.keyPrefix;
    return untraced(() =>
      readActivity(
        {
          client,
          keyPrefix: p,
          summaryKey: (date, service) => this.#key('metrics_summary', undefined, date, service),
          pastVersionKey: `${p}${PAST_VERSION_KEY}`,
          pastActivity: this.#pastActivity,
          maxServices: this.#options.maxServices,
          maxOperations: this.#options.maxOperations,
        },
        fromMinute,
        toMinute,
        skip,
      ),
    );
  }
}
