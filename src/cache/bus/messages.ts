/**
 * Bus messages: which keys and tags changed, never values. Two shapes, JSON:
 *
 *     {"s":"<sender>","k":["key", ...]}          keys set or deleted: drop them from L1
 *     {"s":"<sender>","t":{"tag":version, ...}}  tags invalidated: their new versions
 *
 * The tag message is built by the Redis invalidation script (in the same atomic step as the version
 * change); the empty tag stands for the whole prefix (`clear()`).
 */

/** A parsed bus message. */
export interface BusMessage {
  /** Id of the cache instance that sent it (instances ignore their own messages). */
  readonly sender: string;
  /** Keys to drop from L1. */
  readonly keys: readonly string[];
  /** Tags with their new versions. */
  readonly tags: readonly (readonly [tag: string, version: number])[];
}

/** Encodes a keys message. */
export function encodeKeysMessage(sender: string, keys: readonly string[]): string {
  return JSON.stringify({ s: sender, k: keys });
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
  const { s, k, t } = parsed as { s?: unknown; k?: unknown; t?: unknown };
  if (typeof s !== 'string') return undefined;
  if (Array.isArray(k)) {
    if (!k.every((key) => typeof key === 'string')) return undefined;
    return { sender: s, keys: k as string[], tags: [] };
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
