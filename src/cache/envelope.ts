/**
 * The text stored in Redis for one entry: a small header, then the serialized value.
 *
 *     1 <freshUntilMs> <graceMs> <globalVersion> <tagCount>\n
 *     <version> <tag>\n          (tagCount lines)
 *     <payload>
 *
 * `freshUntilMs` is a time on the Redis server's clock: the write script stamps it from Redis's
 * `TIME` in the same step as the write, so it never depends on the writing process's clock. The
 * cache builds everything after it (the {@link EnvelopeTail}) and the script prepends `1 <time>`.
 * Tags contain no control characters (checked on input), so a line break always ends a header line.
 *
 * An absent result (a factory returned `undefined` or `null`) is stored with the format `a` instead
 * of `1` and the payload `undefined` or `null`, written by the cache itself, never by the
 * serializer (which may not accept either). A reader that knows only format `1` treats it as a miss.
 */
import type { MemoryEntry } from './drivers/memory.ts';

/** A decoded entry. */
export interface Envelope {
  /** End of freshness, ms on the Redis server's clock. */
  readonly freshUntilMs: number;
  /** Grace period the entry was written with, ms (Redis keeps it `ttl + grace`). */
  readonly graceMs: number;
  /** Version of the whole prefix (bumped by `clear()`) when the value was computed. */
  readonly globalVersion: number;
  /** The entry's tags. */
  readonly tags: readonly string[];
  /** Version of each tag when the value was computed (same order as `tags`). */
  readonly versions: readonly number[];
  /** The serialized value; for an absent entry `undefined` or `null`. */
  readonly payload: string;
  /** Whether this is an absent result (format `a`). */
  readonly absent: boolean;
}

/** The part of an envelope the cache builds: everything after `1 <freshUntilMs>`. */
export type EnvelopeTail = string;

/** Format marker of the envelope's first field. */
export const ENVELOPE_FORMAT = '1';

/** Format marker of an absent entry. */
export const ABSENT_FORMAT = 'a';

/** The payload stored for an absent result. */
export function absentPayload(value: null | undefined): string {
  return value === null ? 'null' : 'undefined';
}

/** The value an absent entry's payload stands for. */
export function absentValue(payload: string): null | undefined {
  return payload === 'null' ? null : undefined;
}

/** Encodes everything after the format and fresh-until fields. `versions` is parallel to `tags`. */
export function encodeEnvelopeTail(
  graceMs: number,
  globalVersion: number,
  tags: readonly string[],
  versions: readonly number[],
  payload: string,
): EnvelopeTail {
  let text = ` ${graceMs} ${globalVersion} ${tags.length}\n`;
  for (let i = 0; i < tags.length; i++) text += `${versions[i] ?? 0} ${tags[i]}\n`;
  return text + payload;
}

const SPACE = 0x20;
const NEWLINE = 0x0a;
const MINUS = 0x2d;
/** Most digits read as one integer: fewer than 16, so every value read is a safe integer. */
const MAX_DIGITS = 15;

/** Where the last {@link integerAt} stopped: just past the integer's terminator. */
let next = 0;

/**
 * The integer at `text[start]` (an optional `-`, then 1 to {@link MAX_DIGITS} digits) ended by the
 * character `stop`, setting {@link next} just past `stop`; NaN when the text is not that. Read in
 * place, without a substring or an array, because every Redis read decodes a header.
 */
function integerAt(text: string, start: number, stop: number): number {
  let i = start;
  const negative = text.charCodeAt(i) === MINUS;
  if (negative) i++;
  const first = i;
  let value = 0;
  for (; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === stop) break;
    if (code < 0x30 || code > 0x39 || i - first === MAX_DIGITS) return Number.NaN;
    value = value * 10 + (code - 0x30);
  }
  // No digit, or no terminator.
  if (i === first || i === text.length) return Number.NaN;
  next = i + 1;
  return negative ? -value : value;
}

/** Decodes an entry, or `undefined` when the text is not one (written by something else). */
export function decodeEnvelope(text: string): Envelope | undefined {
  const format = text[0];
  if ((format !== ENVELOPE_FORMAT && format !== ABSENT_FORMAT) || text.charCodeAt(1) !== SPACE)
    return undefined;
  const freshUntilMs = integerAt(text, 2, SPACE);
  if (Number.isNaN(freshUntilMs)) return undefined;
  const graceMs = integerAt(text, next, SPACE);
  if (Number.isNaN(graceMs)) return undefined;
  const globalVersion = integerAt(text, next, SPACE);
  if (Number.isNaN(globalVersion)) return undefined;
  const count = integerAt(text, next, NEWLINE);
  if (!(count >= 0)) return undefined;
  const tags: string[] = [];
  const versions: number[] = [];
  let start = next;
  for (let i = 0; i < count; i++) {
    const version = integerAt(text, start, SPACE);
    if (Number.isNaN(version)) return undefined;
    const end = text.indexOf('\n', next);
    if (end < 0) return undefined;
    versions.push(version);
    tags.push(text.slice(next, end));
    start = end + 1;
  }
  const payload = text.slice(start);
  const absent = format === ABSENT_FORMAT;
  if (absent && payload !== 'null' && payload !== 'undefined') return undefined;
  return { freshUntilMs, graceMs, globalVersion, tags, versions, payload, absent };
}

/**
 * The L1 entry for a decoded envelope whose `value` was read from Redis: fresh until `freshUntil`
 * (`performance.now()` ms, the remaining freshness on Redis's clock added to the receipt time),
 * then kept for its grace. `bytes`: the payload's size as L1 counts it (`MemoryDriver.sizeOf`).
 */
export function memoryEntryOf(
  envelope: Envelope,
  value: unknown,
  freshUntil: number,
  bytes: number,
): MemoryEntry {
  return {
    value,
    freshUntil,
    staleUntil: freshUntil + envelope.graceMs,
    globalVersion: envelope.globalVersion,
    tags: envelope.tags,
    versions: envelope.versions,
    bytes,
    retryAt: 0,
    absent: envelope.absent,
  };
}
