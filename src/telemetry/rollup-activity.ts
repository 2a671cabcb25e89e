/**
 * The report's list of services from the rollups: every service's activity in a range, read from
 * the per-service summaries (`metrics_summary:{date}`, see rollup.ts), except, when asked, for the
 * one service whose activity the caller takes from the operations it read.
 *
 * Why the exception: a summary holds `o|{operation}` for every operation that ran that day, so the
 * summaries of the own service are the largest hashes a report reads (about 240 KB a day at 1,000
 * operations), while the report's own rollup read already holds each operation's runs, errors and
 * breaches over exactly the range.
 */
import type { RedisClient } from '../shared/redis.ts';
import { type ActivityByService, emptyActivity, mergeActivities } from './activity.ts';
import type { Minute } from './minutes.ts';
import { addSummaryDay, capped, hgetallFlatInChunks } from './rollup-days.ts';
import { datesBetween, dayStart } from './rollup-fields.ts';
import { isPastDay, type PastDays } from './rollup-past.ts';

/** The one service whose summaries a read skips (`service` undefined: the own service). */
export interface SkippedService {
  readonly service: string | undefined;
}

/** What {@link readActivity} reads with. */
export interface ActivitySource {
  readonly client: RedisClient;
  readonly keyPrefix: string;
  /** The summary key of a service (undefined: the own one) on a date. */
  readonly summaryKey: (date: string, service: string | undefined) => string;
  /** The key counting late writes into past days. */
  readonly pastVersionKey: string;
  /** Merges of past days kept between reads. */
  readonly pastActivity: PastDays<ActivityByService>;
  readonly maxServices: number;
  readonly maxOperations: number;
}

/** Marks the skipped service in the key of a kept merge (which then lacks that service). */
function skippedKey(skip: SkippedService | undefined): string {
  if (!skip) return '-';
  return skip.service === undefined ? '+' : `+${skip.service.length}:${skip.service}`;
}

/**
 * The activity of every service from `fromMinute` to `toMinute`: the own service's and those of the
 * services index (at most `maxServices` a day), from their summaries, but `skip`'s (absent). Runs,
 * errors and breaches are counted minute by minute. An operation counts when its last minute of one
 * of the range's days is at or after the range's start: exactly the operations that ran in the
 * range when the range ends now, as a report's does (a range in the past also counts those that
 * ran after it). Whole days that ended a while ago are merged once and reused, as the tiers' are.
 *
 * @throws when Redis cannot be read.
 */
export async function readActivity(
  source: ActivitySource,
  fromMinute: Minute,
  toMinute: Minute,
  skip?: SkippedService,
): Promise<ActivityByService> {
  const { client } = source;
  const dates = datesBetween(fromMinute, toMinute);
  const listing = client.pipeline();
  for (const date of dates) listing.smembers(`${source.keyPrefix}services_index:${date}`);
  const past = dates.filter((date) => isPastDay(dayStart(date), fromMinute, toMinute));
  listing.get(source.pastVersionKey);
  const listed = (await listing.exec()) ?? [];
  const services = capped(listed.slice(0, dates.length), source.maxServices);
  const [versionError, pastVersion] = listed.at(-1) ?? [null, null];
  if (versionError) throw versionError;
  const pastKey = `${past[0]}|${past.at(-1)}|${pastVersion ?? 0}|${skippedKey(skip)}|${services.join('\n')}`;
  const reused = past.length > 0 ? source.pastActivity.get(pastKey) : undefined;
  const read = reused ? dates.filter((date) => !past.includes(date)) : dates;
  const keys: [string | undefined, string][] = [];
  for (const service of [undefined, ...services]) {
    if (skip && service === skip.service) continue;
    for (const date of read) keys.push([service, date]);
  }
  const recent: ActivityByService = { own: undefined, services: new Map() };
  const merged: ActivityByService = reused ? recent : { own: undefined, services: new Map() };
  const hashes = await hgetallFlatInChunks(
    client,
    keys.map(([service, date]) => source.summaryKey(date, service)),
  );
  for (const [i, hash] of hashes.entries()) {
    const [service, date] = keys[i] as [string | undefined, string];
    if (hash.length === 0) continue;
    const out = past.includes(date) ? merged : recent;
    let activity = service === undefined ? out.own : out.services.get(service);
    activity ??= emptyActivity();
    addSummaryDay(activity, hash, dayStart(date), fromMinute, toMinute, source.maxOperations);
    if (activity.count === 0 && activity.operations.size === 0) continue;
    if (service === undefined) out.own = activity;
    else out.services.set(service, activity);
  }
  if (past.length > 0 && !reused) source.pastActivity.set(pastKey, merged);
  // A copy: the kept merge is shared with later reads.
  const out: ActivityByService = { own: undefined, services: new Map() };
  if (past.length > 0) mergeActivities(out, reused ?? merged);
  mergeActivities(out, recent);
  return out;
}
