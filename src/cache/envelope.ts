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
 */

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
  /** The serialized value. */
  readonly payload: string;
}

/** The part of an envelope the cache builds: everything after `1 <freshUntilMs>`. */
export type EnvelopeTail = string;

/** Format marker of the envelope's first field. */
export const ENVELOPE_FORMAT = '1';

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

/** Decodes an entry, or `undefined` when the text is not one (written by something else). */
export function decodeEnvelope(text: string): Envelope | undefined {
  let end = text.indexOf('\n');
  if (end < 0) return undefined;
  const header = text.slice(0, end).split(' ');
  if (header.length !== 5 || header[0] !== ENVELOPE_FORMAT) return undefined;
  const [freshUntilMs, graceMs, globalVersion, count] = header.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
  ];
  if (
    !Number.isInteger(freshUntilMs) ||
    !Number.isInteger(graceMs) ||
    !Number.isInteger(globalVersion) ||
    !Number.isInteger(count) ||
    count < 0
  ) {
    return undefined;
  }
  const tags: string[] = [];
  const versions: number[] = [];
  let start = end + 1;
  for (let i = 0; i < count; i++) {
    end = text.indexOf('\n', start);
    if (end < 0) return undefined;
    const space = text.indexOf(' ', start);
    if (space < 0 || space > end) return undefined;
    const version = Number(text.slice(start, space));
    if (!Number.isInteger(version)) return undefined;
    versions.push(version);
    tags.push(text.slice(space + 1, end));
    start = end + 1;
  }
  return { freshUntilMs, graceMs, globalVersion, tags, versions, payload: text.slice(start) };
}
