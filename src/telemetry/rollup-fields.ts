/**
 * The field layout of the Redis rollups (see `rollup.ts`): the Lua scripts that write a minute,
 * the fields written for one duration aggregate, and the parsing of what is read back.
 */
import type { DurationAggregate } from './aggregate.ts';
import { MINUTE_MS, type Minute } from './minutes.ts';

/** Applies one (mode, field, value) triple to a hash: `i` adds, `m` keeps the larger, `n` the smaller, `s` sets. */
const APPLY = `
local function apply(key, mode, field, value)
  if mode == 'i' then
    redis.call('HINCRBYFLOAT', key, field, value)
  elseif mode == 'm' then
    local current = tonumber(redis.call('HGET', key, field))
    if (not current) or tonumber(value) > current then redis.call('HSET', key, field, value) end
  elseif mode == 'n' then
    local current = tonumber(redis.call('HGET', key, field))
    if (not current) or tonumber(value) < current then redis.call('HSET', key, field, value) end
  else
    redis.call('HSET', key, field, value)
  end
end
`;

/** KEYS[1] = hash; ARGV[1] = expiry seconds, then triples (mode, field, value) for the hash. */
export const WRITE_MINUTE = `${APPLY}
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 3 do apply(KEYS[1], ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
redis.call('EXPIRE', KEYS[1], ttl)
return 1
`;

/**
 * One operation's minute, with its share of the service's summary, of the error-budget counts and
 * of the service's minute, hour and day hashes (see `rollup-tiers.ts`), in one step (so that a
 * retried write never counts any of them twice). KEYS[1] = operation hash, KEYS[2] = operations
 * index set, KEYS[3] = summary hash, KEYS[4..6] = the budget hashes of the minute, hour and day,
 * KEYS[7] = the day's objectives hash, KEYS[8] = the day's bad runs, KEYS[9..11] = the service's
 * minute, hour and day hashes, KEYS[12] = the key holding the first minute written to those,
 * KEYS[13] (optional) = services index set. ARGV[1] = expiry seconds, ARGV[2] = operation,
 * ARGV[3] = service (the member of KEYS[13]), ARGV[4] = HHMM, ARGV[5] = minute of the day,
 * ARGV[6..8] = count, errors, breaches, ARGV[9] = budget field name (empty: the operation has no
 * objective), ARGV[10..12] = runs, runs over target, runs failed within target, ARGV[13] =
 * objective, ARGV[14] = latest bad run (`trace span sampled ms`, empty: none), ARGV[15..17] =
 * expiry seconds of KEYS[4..6], ARGV[18] = expiry seconds of KEYS[7..8], ARGV[19] = target
 * (empty: none), ARGV[20] = the minute (minutes since the epoch), then triples (mode, stat, value):
 * written as `HHMM|stat` to KEYS[1] and as `operation|stat` to KEYS[9..11].
 */
export const WRITE_OPERATION = `${APPLY}
local ttl = tonumber(ARGV[1])
local minute = ARGV[4] .. '|'
local op = ARGV[2] .. '|'
for i = 21, #ARGV, 3 do
  local mode, stat, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  apply(KEYS[1], mode, minute .. stat, value)
  for k = 9, 11 do apply(KEYS[k], mode, op .. stat, value) end
end
if ARGV[19] ~= '' then
  redis.call('HSET', KEYS[1], 'target', ARGV[19])
  for k = 9, 11 do redis.call('HSET', KEYS[k], op .. 't', ARGV[19]) end
end
for k = 10, 11 do apply(KEYS[k], 'n', op .. 'a', ARGV[20]) end
for k = 9, 11 do redis.call('EXPIRE', KEYS[k], ttl) end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('SET', KEYS[12], ARGV[20], 'NX')
redis.call('EXPIRE', KEYS[12], ttl)
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ttl)
apply(KEYS[3], 'i', ARGV[4] .. '|c', ARGV[6])
if tonumber(ARGV[7]) > 0 then apply(KEYS[3], 'i', ARGV[4] .. '|e', ARGV[7]) end
if tonumber(ARGV[8]) > 0 then apply(KEYS[3], 'i', ARGV[4] .. '|b', ARGV[8]) end
apply(KEYS[3], 'm', 'o|' .. ARGV[2], ARGV[5])
redis.call('EXPIRE', KEYS[3], ttl)
if ARGV[9] ~= '' then
  for k = 4, 6 do
    redis.call('HINCRBY', KEYS[k], 'c:' .. ARGV[9], ARGV[10])
    if tonumber(ARGV[11]) > 0 then redis.call('HINCRBY', KEYS[k], 'b:' .. ARGV[9], ARGV[11]) end
    if tonumber(ARGV[12]) > 0 then redis.call('HINCRBY', KEYS[k], 'e:' .. ARGV[9], ARGV[12]) end
    redis.call('EXPIRE', KEYS[k], tonumber(ARGV[k + 11]))
  end
  redis.call('HSET', KEYS[7], ARGV[9], ARGV[13])
  redis.call('EXPIRE', KEYS[7], tonumber(ARGV[18]))
  if ARGV[14] ~= '' then
    -- The latest bad run wins, whichever instance writes last.
    local current = redis.call('HGET', KEYS[8], ARGV[9])
    local old = current and tonumber(string.match(current, '(%d+)$'))
    local new = tonumber(string.match(ARGV[14], '(%d+)$'))
    if (not old) or (new and new > old) then redis.call('HSET', KEYS[8], ARGV[9], ARGV[14]) end
    redis.call('EXPIRE', KEYS[8], tonumber(ARGV[18]))
  end
end
if #KEYS > 12 then
  redis.call('SADD', KEYS[13], ARGV[3])
  redis.call('EXPIRE', KEYS[13], ttl)
end
return 1
`;

/** The UTC date `YYYY-MM-DD` and `HHMM` of a minute. */
export function minuteParts(minute: Minute): { readonly date: string; readonly hhmm: string } {
  const iso = new Date(minute * MINUTE_MS).toISOString();
  return { date: iso.slice(0, 10), hhmm: `${iso.slice(11, 13)}${iso.slice(14, 16)}` };
}

function bucketField(bound: number): string {
  return Number.isFinite(bound) ? `le=${bound}` : 'le=+Inf';
}

/** The (mode, field, value) triples of one aggregate, fields named `<prefix><stat>`. */
export function fieldArgs(prefix: string, agg: DurationAggregate): string[] {
  const args = ['i', `${prefix}c`, String(agg.count), 'i', `${prefix}s`, String(agg.sum)];
  if (agg.errors > 0) args.push('i', `${prefix}e`, String(agg.errors));
  if (agg.breaches) args.push('i', `${prefix}b`, String(agg.breaches));
  if (agg.frustrated) args.push('i', `${prefix}f`, String(agg.frustrated));
  if (agg.max > 0) args.push('m', `${prefix}m`, String(agg.max));
  // Only a known minimum: a minute without one reads back as "minimum unknown".
  if (agg.min !== undefined && agg.count > 0) args.push('n', `${prefix}n`, String(agg.min));
  // Counted, so that a tier hash adding up minutes with and without a minimum knows it has none.
  else if (agg.count > 0) args.push('i', `${prefix}u`, String(agg.count));
  // Empty entries too: they carry the lower edges of the non-empty buckets.
  for (const [bound, n] of agg.buckets) args.push('i', `${prefix}${bucketField(bound)}`, String(n));
  return args;
}

/**
 * Minutes written before minima were stored have a count but no `n` field: an aggregate that
 * merges such a minute has no known minimum (a minimum from the other minutes could be too high).
 */
export class MinimumTracker {
  readonly #counted = new Map<DurationAggregate, Set<string>>();
  readonly #withMin = new Set<string>();

  /** Notes that the minute `minute` (date and field prefix) of `agg` has the field `stat`. */
  saw(agg: DurationAggregate, minute: string, stat: string): void {
    if (stat === 'n') this.#withMin.add(minute);
    else if (stat === 'c') {
      let minutes = this.#counted.get(agg);
      if (!minutes) {
        minutes = new Set();
        this.#counted.set(agg, minutes);
      }
      minutes.add(minute);
    }
  }

  /** Forgets the minimum of every aggregate that merged a minute without one. */
  finish(): void {
    for (const [agg, minutes] of this.#counted) {
      for (const minute of minutes) {
        if (!this.#withMin.has(minute)) {
          agg.min = undefined;
          break;
        }
      }
    }
  }
}

/** Adds one stored field (`c`, `e`, `b`, `f`, `s`, `m`, `n`, `le=<bound>`) to an aggregate. */
export function addField(agg: DurationAggregate, stat: string, value: number): void {
  if (!Number.isFinite(value)) return;
  switch (stat) {
    case 'c':
      agg.count += value;
      return;
    case 'e':
      agg.errors += value;
      return;
    case 'b':
      agg.breaches = (agg.breaches ?? 0) + value;
      return;
    case 'f':
      agg.frustrated = (agg.frustrated ?? 0) + value;
      return;
    case 's':
      agg.sum += value;
      return;
    case 'm':
      if (value > agg.max) agg.max = value;
      return;
    case 'n':
      agg.min = agg.min === undefined ? value : Math.min(agg.min, value);
      return;
    default:
      if (stat.startsWith('le=')) {
        const bound = stat === 'le=+Inf' ? Number.POSITIVE_INFINITY : Number(stat.slice(3));
        if (!Number.isNaN(bound)) agg.buckets.set(bound, (agg.buckets.get(bound) ?? 0) + value);
      }
  }
}

/** Minute of the day of an `HHMM` field part, or `undefined` when it is not one. */
export function minuteOfDay(text: string, from: number, to: number): number | undefined {
  if (to - from !== 4) return undefined;
  let hh = 0;
  let mm = 0;
  for (let i = from; i < to; i++) {
    const digit = text.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return undefined;
    if (i < from + 2) hh = hh * 10 + digit;
    else mm = mm * 10 + digit;
  }
  return hh < 24 && mm < 60 ? hh * 60 + mm : undefined;
}

/** First minute of a `YYYY-MM-DD` day (UTC). */
export function dayStart(date: string): Minute {
  return Date.parse(`${date}T00:00:00Z`) / MINUTE_MS;
}

/** The UTC dates (`YYYY-MM-DD`) from the day of `fromMinute` to the day of `toMinute`. */
export function datesBetween(fromMinute: Minute, toMinute: Minute): string[] {
  const dates: string[] = [];
  const day = 1440;
  for (let m = fromMinute - (fromMinute % day); m <= toMinute; m += day) dates.push(minuteParts(m).date);
  return dates;
}
