/**
 * Redis Cluster facts that need no ioredis at run time: whether a client is a `Cluster`, and
 * whether a key prefix holds a hash tag. A leaf, so option schemas (loaded by the configuration)
 * can check the cluster rules without loading ioredis or the logger.
 */
import type { Cluster } from 'ioredis';

/** Whether `client` is an ioredis `Cluster`. */
export function isCluster(client: unknown): client is Cluster {
  return (
    typeof client === 'object' && client !== null && (client as { isCluster?: unknown }).isCluster === true
  );
}

/**
 * Whether a key prefix holds a Redis Cluster hash tag: the first `{` followed, later, by a `}` with
 * something between (then only that part of every key is hashed).
 */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  if (open < 0) return false;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1;
}
