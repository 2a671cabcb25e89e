/**
 * Bus messages: which keys and tags changed, never values. Two shapes, JSON:
 *
 *     {"s":"<sender>","k":["key", ...]}          keys set or deleted: drop them from L1
 *     {"s":"<sender>","t":{"tag":version, ...}}  tags invalidated: their new versions
 *
 * The tag message is built by the Redis invalidation script (in the same atomic step as the version
 * change); the empty tag stands for the whole prefix (`clear()`).
 *
 * A keys message may also carry `"u":["key", ...]`: distributed single-flight locks released (by
 * the release script), which wake the processes waiting on them. It is sent with an empty `k`, so
 * an instance that does not know `u` reads it as a keys message about no key and does nothing.
 */

/** A parsed bus message. */
export interface BusMessage {
  /** Id of the cache instance that sent it (instances ignore their own messages). */
  readonly sender: string;
  /** Keys to drop from L1. */
  readonly keys: readonly string[];
  /** Tags with their new versions. */
  readonly tags: readonly (readonly [tag: string, version: number])[];
  /** Keys whose distributed single-flight lock was released (absent: none). */
  readonly released?: readonly string[];
}

/** Encodes a keys message. */
export function encodeKeysMessage(sender: string, keys: readonly string[]): string {
  return JSON.stringify({ s: sender, k: keys });
}

/** Encodes the message of a released lock: a keys message about no key, with the key in `u`. */
export function encodeReleaseMessage(sender: string, key: string): string {
  return JSON.stringify({ s: sender, k: [], u: [key] });
}

/** Parses a message, or returns `undefined` when it is not one of the two shapes. */
export function parseBusMessage(text: string): BusMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const { s, k, t, u } = parsed as { s?: unknown; k?: unknown; t?: unknown; u?: unknown };
  if (typeof s !== 'string') return undefined;
  if (Array.isArray(k)) {
    if (!k.every((key) => typeof key === 'string')) return undefined;
    if (u === undefined) return { sender: s, keys: k as string[], tags: [] };
    if (!Array.isArray(u) || !u.every((key) => typeof key === 'string')) return undefined;
    return { sender: s, keys: k as string[], tags: [], released: u as string[] };
  }
  if (typeof t === 'object' && t !== null && !Array.isArray(t)) {
    const tags: [string, number][] = [];
    for (const [tag, version] of Object.entries(t)) {
      if (typeof version !== 'number' || !Number.isInteger(version)) return undefined;
      tags.push([tag, version]);
    }
    return { sender: s, keys: [], tags };
  }
  return undefined;
}
