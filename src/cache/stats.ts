/**
 * The cache's statistics: plain-integer counters that the hot paths bump (never OpenTelemetry: a
 * `counter.add()` costs several times an lru-cache get), and the `getStats()` shape built from them
 * and from the collaborators' own figures. The same counters feed the observable metrics.
 */
import type { BreakerState } from './circuit-breaker.ts';
import type { CounterSnapshot } from './telemetry.ts';

/** Per-level statistics (`memory_cache`, `redis_cache`, `factory`). */
export interface LevelStats {
  /** Lookups answered with a fresh value. */
  readonly hits: number;
  /** Lookups without a fresh value (absent, expired, or invalidated by a tag). */
  readonly misses: number;
  /** `hits / (hits + misses)`, 0 before any lookup. */
  readonly hit_rate: number;
  /** Stale values served within their grace period from this level. */
  readonly stale_serves: number;
  /** Hits on absent entries (a factory returned `undefined` or `null`); counted in `hits` too. */
  readonly absent_hits: number;
}

/** Statistics of the memory level. */
export interface MemoryCacheStats extends LevelStats {
  /** Entries held (expired ones kept for grace included, until evicted or read). */
  readonly items: number;
  /** Serialized bytes held. */
  readonly bytes: number;
  /** Entries evicted to stay within `maxItems` or `maxBytes`. */
  readonly evictions: number;
  /** The `maxItems` bound. */
  readonly max_items: number;
  /** The `maxBytes` bound. */
  readonly max_bytes: number;
}

/** Statistics of the Redis level. */
export interface RedisCacheStats extends LevelStats {
  /** Whether a Redis is configured (false: memory-only mode). */
  readonly enabled: boolean;
  /** Whether the command connection is ready now. */
  readonly connected: boolean;
  /** Round trips that failed or timed out. */
  readonly errors: number;
  /** Round trips not attempted because Redis was unreachable or the circuit open. */
  readonly skipped: number;
  /** Circuit breaker state (`disabled` in memory-only mode). */
  readonly breaker: BreakerState | 'disabled';
  /** Times the circuit opened. */
  readonly breaker_opens: number;
  /** Invalidation bus state. */
  readonly bus: 'connected' | 'disconnected' | 'disabled';
  /** Bus messages received from other instances. */
  readonly bus_messages: number;
  /** Times the memory level was cleared because bus messages may have been missed. */
  readonly bus_resets: number;
  /** Invalidations waiting for Redis to come back (a pending clear counts 1). */
  readonly pending_invalidations: number;
}

/** Statistics of factory runs. */
export interface FactoryStats {
  /** Factories started. */
  readonly runs: number;
  /** Factories that threw or rejected. */
  readonly errors: number;
  /** Times a stale value was served because the factory passed its soft timeout. */
  readonly soft_timeouts: number;
  /** Factories that passed their hard timeout. */
  readonly hard_timeouts: number;
  /** `getOrSet` calls that joined a factory already running for their key. */
  readonly coalesced: number;
  /** `getOrSet` calls that ran their own factory because the single-flight table was full. */
  readonly uncoalesced: number;
  /**
   * Results returned but not cached (too large for memory-only mode, invalidated meanwhile, or
   * absent with `absentTtlSeconds` 0).
   */
  readonly not_cached: number;
  /** Results cached as absent (the factory returned `undefined` or `null`). */
  readonly absent: number;
  /** Factories running now (foreground and background). */
  readonly in_flight: number;
}

/** What `getStats()` returns. */
export interface CacheStats {
  /** The `name` option. */
  readonly name: string;
  /** L1. */
  readonly memory_cache: MemoryCacheStats;
  /** L2. */
  readonly redis_cache: RedisCacheStats;
  /** Factories. */
  readonly factory: FactoryStats;
}

/** The counters, bumped in place by the collaborators (a field increment is all a hit costs). */
export class CacheCounters {
  /** L1 lookups answered fresh. */
  l1Hits = 0;
  /** L1 lookups without a fresh value. */
  l1Misses = 0;
  /** Stale values served from L1. */
  l1Stale = 0;
  /** L1 hits on absent entries. */
  l1Absent = 0;
  /** L2 reads answered fresh. */
  l2Hits = 0;
  /** L2 reads without a fresh value. */
  l2Misses = 0;
  /** Stale values served from L2. */
  l2Stale = 0;
  /** L2 hits on absent entries. */
  l2Absent = 0;
  /** L2 round trips that failed. */
  l2Errors = 0;
  /** L2 round trips not attempted (unreachable, circuit open). */
  l2Skipped = 0;
  /** Factories started. */
  runs = 0;
  /** Factories that failed. */
  factoryErrors = 0;
  /** Stale serves past the soft timeout. */
  softTimeouts = 0;
  /** Factories past the hard timeout. */
  hardTimeouts = 0;
  /** Calls that joined a running factory. */
  coalesced = 0;
  /** Calls that ran their own factory (table full). */
  uncoalesced = 0;
  /** Factory results returned without being cached. */
  notCached = 0;
  /** Factory results cached as absent. */
  factoryAbsent = 0;
  /** L1 clears because bus messages may have been missed. */
  busResets = 0;
}

/** What the statistics read besides the counters: each collaborator's own figures. */
export interface StatsSources {
  /** The counters. */
  readonly counters: CacheCounters;
  /** The options the bounds come from. */
  readonly options: { readonly name: string; readonly maxItems: number; readonly maxBytes: number };
  /** L1's figures. */
  readonly l1: { readonly items: number; readonly bytes: number; readonly evictions: number };
  /** The Redis link; absent in memory-only mode. */
  readonly link:
    | { readonly connected: boolean; readonly breakerState: BreakerState; readonly breakerOpens: number }
    | undefined;
  /** The bus; absent in memory-only mode. */
  readonly bus: { readonly connected: boolean; readonly received: number } | undefined;
  /** Invalidations waiting for Redis. */
  readonly log: { readonly pending: number };
  /** Factories running now. */
  readonly runner: { readonly inFlight: number };
}

function hitRate(hits: number, misses: number): number {
  return hits + misses === 0 ? 0 : hits / (hits + misses);
}

/** The `getStats()` shape, read now. */
export function statsOf(s: StatsSources): CacheStats {
  const c = s.counters;
  const { link, bus } = s;
  return {
    name: s.options.name,
    memory_cache: {
      hits: c.l1Hits,
      misses: c.l1Misses,
      hit_rate: hitRate(c.l1Hits, c.l1Misses),
      stale_serves: c.l1Stale,
      absent_hits: c.l1Absent,
      items: s.l1.items,
      bytes: s.l1.bytes,
      evictions: s.l1.evictions,
      max_items: s.options.maxItems,
      max_bytes: s.options.maxBytes,
    },
    redis_cache: {
      enabled: link !== undefined,
      connected: link?.connected ?? false,
      hits: c.l2Hits,
      misses: c.l2Misses,
      hit_rate: hitRate(c.l2Hits, c.l2Misses),
      stale_serves: c.l2Stale,
      absent_hits: c.l2Absent,
      errors: c.l2Errors,
      skipped: c.l2Skipped,
      breaker: link === undefined ? 'disabled' : link.breakerState,
      breaker_opens: link?.breakerOpens ?? 0,
      bus: bus === undefined ? 'disabled' : bus.connected ? 'connected' : 'disconnected',
      bus_messages: bus?.received ?? 0,
      bus_resets: c.busResets,
      pending_invalidations: s.log.pending,
    },
    factory: {
      runs: c.runs,
      errors: c.factoryErrors,
      soft_timeouts: c.softTimeouts,
      hard_timeouts: c.hardTimeouts,
      coalesced: c.coalesced,
      uncoalesced: c.uncoalesced,
      not_cached: c.notCached,
      absent: c.factoryAbsent,
      in_flight: s.runner.inFlight,
    },
  };
}

/** What the observable metrics report, read now (when a metric reader collects). */
export function counterSnapshotOf(s: StatsSources): CounterSnapshot {
  const c = s.counters;
  return {
    memory: { hits: c.l1Hits, misses: c.l1Misses, stale: c.l1Stale },
    redis: { hits: c.l2Hits, misses: c.l2Misses, stale: c.l2Stale },
    evictions: s.l1.evictions,
    items: s.l1.items,
    bytes: s.l1.bytes,
    breakerOpen: s.link !== undefined && s.link.breakerState !== 'closed',
  };
}
