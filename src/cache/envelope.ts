/**
 * The text stored in Redis for one entry: a small header (format, grace period, the version of the
 * whole prefix and of each tag when the value was computed), then the serialized value.
 *
 *     1 <graceMs> <globalVersion> <tagCount>\n
 *     <version> <tag>\n          (tagCount lines)
 *     <payload>
 *
 * The header holds no absolute time: freshness is read from the key's remaining TTL in Redis
 * (`PTTL`), so processes with skewed clocks agree on it. Tags contain no control characters
 * (checked on input), so a line break always ends a header line. The Redis read script parses the
 * same header to return the tags' current versions in the same round trip.
 */

/** A decoded entry. */
export interface Envelope {
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

const FORMAT = '1';

/** Encodes an entry. `versions` is parallel to `tags`. */
export function encodeEnvelope(
  graceMs: number,
  globalVersion: number,
  tags: readonly string[],
  versions: readonly number[],
  payload: string,
): string {
  let text = `${FORMAT} ${graceMs} ${globalVersion} ${tags.length}\n`;
  for (let i = 0; i < tags.length; i++) text += `${versions[i] ?? 0} ${tags[i]}\n`;
  return text + payload;
}

/** Decodes an entry, or `undefined` when the text is not one (written by something else). */
export function decodeEnvelope(text: string): Envelope | undefined {
  let end = text.indexOf('\n');
  if (end < 0) return undefined;
  const header = text.slice(0, end).split(' ');
  if (header.length !== 4 || header[0] !== FORMAT) return undefined;
  const graceMs = Number(header[1]);
  const globalVersion = Number(header[2]);
  const count = Number(header[3]);
  if (
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
  return { graceMs, globalVersion, tags, versions, payload: text.slice(start) };
}
