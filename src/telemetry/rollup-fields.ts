/**
 * The field layout of the Redis rollups (see `rollup.ts`): the Lua scripts that write a minute,
 * the fields written for one duration aggregate, and the parsing of what is read back.
 */
import type { DurationAggregate } from './aggregate.ts';
import { MINUTE_MS, type Minute, type PendingMinute, type PendingService } from './minutes.ts';

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

/**
 * Merges a packed aggregate into a tier hash's field: `c,e,b,f,s,m,n,u,a,t;bound=count,...`
 * (count, errors, breaches, over 4x target, sum, max, min, runs without a minimum, first minute,
 * target; empty when unknown). Counts and sums add, max and min and the first minute keep the
 * larger or smaller, the target is the latest writer's; bucket bounds are kept as written.
 */
const MERGE_TIER = `
local function split(text, sep)
  local out, pos = {}, 1
  while true do
    local j = string.find(text, sep, pos, true)
    if not j then
      out[#out + 1] = string.sub(text, pos)
      return out
    end
    out[#out + 1] = string.sub(text, pos, j - 1)
    pos = j + 1
  end
end
local function fmt(x)
  if x == nil then return '' end
  return string.format('%.17g', x)
end
local function merge_tier(key, field, add)
  local current = redis.call('HGET', key, field)
  if not current then
    redis.call('HSET', key, field, add)
    return
  end
  local cs, as = split(current, ';'), split(add, ';')
  local c, a = split(cs[1], ','), split(as[1], ',')
  local out = {}
  for k = 1, 10 do
    local x, y = tonumber(c[k] or ''), tonumber(a[k] or '')
    local r
    if k <= 5 or k == 8 then r = (x or 0) + (y or 0)
    elseif k == 6 then r = math.max(x or 0, y or 0)
    elseif k == 7 or k == 9 then
      if x and y then r = math.min(x, y) else r = x or y end
    else r = y or x end
    out[k] = fmt(r)
  end
  local counts, order = {}, {}
  for _, part in ipairs({ cs[2] or '', as[2] or '' }) do
    if part ~= '' then
      for _, pair in ipairs(split(part, ',')) do
        local eq = string.find(pair, '=', 1, true)
        if eq then
          local bound = string.sub(pair, 1, eq - 1)
          if counts[bound] == nil then
            order[#order + 1] = bound
            counts[bound] = 0
          end
          counts[bound] = counts[bound] + (tonumber(string.sub(pair, eq + 1)) or 0)
        end
      end
    end
  end
  local buckets = {}
  for i, bound in ipairs(order) do buckets[i] = bound .. '=' .. fmt(counts[bound]) end
  redis.call('HSET', key, field, table.concat(out, ',') .. ';' .. table.concat(buckets, ','))
end
`;

/**
 * Counts a write in the same step as its data, so that no reader can keep reusing a read that
 * misses it: `rollup_version` always, `rollup_past_version` when the write is late or reaches a day that a
 * reader may already treat as past.
 */
const VERSIONS = `
local function bump(version, past, touchesPast, ttl)
  redis.call('INCR', version)
  redis.call('EXPIRE', version, ttl)
  if touchesPast == '1' then
    redis.call('INCR', past)
    redis.call('EXPIRE', past, ttl)
  end
end
`;

/**
 * KEYS[1] = hash, KEYS[2..3] = the write counters (VERSIONS); ARGV[1] = expiry seconds, ARGV[2] =
 * `1` when the write is late or in a day a reader may treat as past (see rollup-past.ts), then triples (mode, field, value).
 */
export const WRITE_MINUTE = `${APPLY}${VERSIONS}
local ttl = tonumber(ARGV[1])
bump(KEYS[2], KEYS[3], ARGV[2], ttl)
for i = 3, #ARGV, 3 do apply(KEYS[1], ARGV[i], ARGV[i + 1], ARGV[i + 2]) end
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
 * KEYS[13..14] = the write counters (VERSIONS), KEYS[15] (optional) = services index set.
 * ARGV[1] = expiry seconds, ARGV[2] = operation,
 * ARGV[3] = service (the member of KEYS[15]), ARGV[4] = HHMM, ARGV[5] = minute of the day,
 * ARGV[6..8] = count, errors, breaches, ARGV[9] = budget field name (empty: the operation has no
 * objective), ARGV[10..12] = runs, runs over target, runs failed within target, ARGV[13] =
 * objective, ARGV[14] = latest bad run (`trace span sampled ms`, empty: none), ARGV[15..17] =
 * expiry seconds of KEYS[4..6], ARGV[18] = expiry seconds of KEYS[7..8], ARGV[19] = target
 * (empty: none), ARGV[20] = the minute (minutes since the epoch), ARGV[21] = the minute packed for
 * the tier hashes (see `packTier` in rollup-tiers.ts), merged into the field `operation` of
 * KEYS[9..11], ARGV[22] = `1` when the write is late or in a day a reader may treat as past, then triples
 * (mode, stat, value) written as `HHMM|stat` to KEYS[1].
 */
export const WRITE_OPERATION = `${APPLY}${MERGE_TIER}${VERSIONS}
local ttl = tonumber(ARGV[1])
local minute = ARGV[4] .. '|'
bump(KEYS[13], KEYS[14], ARGV[22], ttl)
for i = 23, #ARGV, 3 do apply(KEYS[1], ARGV[i], minute .. ARGV[i + 1], ARGV[i + 2]) end
if ARGV[19] ~= '' then redis.call('HSET', KEYS[1], 'target', ARGV[19]) end
redis.call('EXPIRE', KEYS[1], ttl)
for k = 9, 11 do
  merge_tier(KEYS[k], ARGV[2], ARGV[21])
  redis.call('EXPIRE', KEYS[k], ttl)
end
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
if #KEYS > 14 then
  redis.call('SADD', KEYS[15], ARGV[3])
  redis.call('EXPIRE', KEYS[15], ttl)
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
  // Counted, so that a minute some writer stored with a minimum and another without has none.
  else if (agg.count > 0) args.push('i', `${prefix}u`, String(agg.count));
  // Empty entries too: they carry the lower edges of the non-empty buckets.
  for (const [bound, n] of agg.buckets) args.push('i', `${prefix}${bucketField(bound)}`, String(n));
  return args;
}

/**
 * Minutes written before minima were stored have a count but no `n` field, and a minute that one
 * writer stored without a minimum has a `u` field: an aggregate that merges such a minute has no
 * known minimum (a minimum from the other minutes could be too high).
 */
export class MinimumTracker {
  readonly #counted = new Map<DurationAggregate, Set<string>>();
  readonly #withMin = new Set<string>();
  readonly #withoutMin = new Set<string>();

  /** Notes that the minute `minute` (date and field prefix) of `agg` has the field `stat`. */
  saw(agg: DurationAggregate, minute: string, stat: string): void {
    if (stat === 'n') this.#withMin.add(minute);
    else if (stat === 'u') this.#withoutMin.add(minute);
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
        if (!this.#withMin.has(minute) || this.#withoutMin.has(minute)) {
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

/** What one written command carries, so that only the parts whose command failed are tried again. */
export interface WrittenPart {
  readonly minute: Minute;
  readonly service: string | undefined;
  readonly operation?: string;
  readonly user?: string;
}

/** The parts of `minutes` whose command failed (or got no reply), as minutes to write again. */
export function failedParts(
  minutes: readonly PendingMinute[],
  parts: readonly WrittenPart[],
  results: [Error | null, unknown][],
): PendingMinute[] {
  const failed = new Map<number, PendingMinute & { services: Map<string, PendingService> }>();
  const source = new Map(minutes.map((m) => [m.minute, m]));
  for (const [i, part] of parts.entries()) {
    const result = results[i];
    if (result && !result[0]) continue;
    const from = source.get(part.minute) as PendingMinute;
    let out = failed.get(part.minute);
    if (!out) {
      out = { minute: part.minute, operations: new Map(), users: new Map(), services: new Map() };
      failed.set(part.minute, out);
    }
    let into: PendingService = out;
    let data: PendingService = from;
    if (part.service !== undefined) {
      data = from.services?.get(part.service) as PendingService;
      let known = out.services.get(part.service);
      if (!known) {
        known = { operations: new Map(), users: new Map() };
        out.services.set(part.service, known);
      }
      into = known;
    }
    if (part.operation !== undefined) {
      into.operations.set(part.operation, data.operations.get(part.operation) as DurationAggregate);
    } else if (part.user !== undefined) {
      into.users.set(part.user, data.users.get(part.user) as Map<string, DurationAggregate>);
    }
  }
  return [...failed.values()];
}
