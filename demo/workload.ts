/**
 * The demo's operations: the example `ai_layout_generation`, `document_ocr`, `validation`
 * and `simple_query`, with database lookups (src/db) and cached lookups (src/cache) inside them,
 * at seeded-random durations drawn from log-normal distributions (plus a rare slow tail), so that
 * some runs go over their targets and a few past 4x (Apdex "frustrated").
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cache } from '../src/cache/index.ts';
import type { Database } from '../src/db/index.ts';
import { trackOperation } from '../src/index.ts';

/** Names of the operations the demo runs. */
export type DemoOperation = 'ai_layout_generation' | 'document_ocr' | 'validation' | 'simple_query';

interface OperationProfile {
  readonly name: DemoOperation;
  /** Share of the mix. */
  readonly weight: number;
  /** Median simulated duration, seconds (design scale). */
  readonly medianSeconds: number;
  /** Log-normal sigma: spread of the durations. */
  readonly sigma: number;
  /** Share of runs that fail (the span gets ERROR status, `perf.outcome="error"`). */
  readonly errorRate: number;
  /** Why a failed run failed. */
  readonly failure: string;
}

/**
 * The mix. Breach shares follow from median and sigma: about 8 % of layouts over 30 s, 6 % of OCR
 * runs over 120 s, 5 % of validations over 5 s, 3 % of simple queries over 2 s, plus the slow tail.
 */
const PROFILES: readonly OperationProfile[] = [
  {
    name: 'validation',
    weight: 0.35,
    medianSeconds: 1.8,
    sigma: 0.6,
    errorRate: 0.01,
    failure: 'schema rule failed',
  },
  {
    name: 'simple_query',
    weight: 0.35,
    medianSeconds: 0.35,
    sigma: 0.9,
    errorRate: 0,
    failure: '',
  },
  {
    name: 'ai_layout_generation',
    weight: 0.15,
    medianSeconds: 16,
    sigma: 0.45,
    errorRate: 0.02,
    failure: 'model returned no layout',
  },
  {
    name: 'document_ocr',
    weight: 0.15,
    medianSeconds: 55,
    sigma: 0.5,
    errorRate: 0.03,
    failure: 'OCR engine timed out',
  },
];

/** Share of runs that hit the slow tail (a cold start, a retry): 5x their drawn duration. */
const SLOW_TAIL_RATE = 0.015;
const SLOW_TAIL_FACTOR = 5;
/** Users in the demo tables; lookups favour low ids, so some are hot (cache hits) and some cold. */
export const DEMO_USERS = 200;
/** Documents in the demo tables (the OCR results table is bounded by it: one row per document). */
export const DEMO_DOCUMENTS = 400;

/** mulberry32: a small, fast, seedable generator; the same seed gives the same workload. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** One standard normal draw (Box-Muller). */
function normal(random: () => number): number {
  const u = Math.max(random(), Number.EPSILON);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** One planned operation: what to run, how long its work takes (real seconds, already scaled). */
export interface PlannedOperation {
  readonly name: DemoOperation;
  readonly workSeconds: number;
  readonly fails: boolean;
  readonly userId: number;
  readonly documentId: number;
  readonly correlationId: string;
}

/** Draws planned operations from the mix. */
export class WorkloadPlan {
  readonly #random: () => number;
  readonly #speed: number;
  #sequence = 0;

  constructor(seed: number, speed: number) {
    this.#random = seededRandom(seed);
    this.#speed = speed;
  }

  /** The next operation of the workload. */
  next(): PlannedOperation {
    const random = this.#random;
    let pick = random();
    let profile = PROFILES[PROFILES.length - 1] as OperationProfile;
    for (const p of PROFILES) {
      if (pick < p.weight) {
        profile = p;
        break;
      }
      pick -= p.weight;
    }
    let seconds = profile.medianSeconds * Math.exp(profile.sigma * normal(random));
    if (random() < SLOW_TAIL_RATE) seconds *= SLOW_TAIL_FACTOR;
    this.#sequence++;
    return {
      name: profile.name,
      workSeconds: seconds / this.#speed,
      fails: random() < profile.errorRate,
      // Squaring skews towards low ids: a hot set that the memory cache keeps, a tail it evicts.
      userId: 1 + Math.floor(random() ** 2 * DEMO_USERS),
      documentId: 1 + Math.floor(random() * DEMO_DOCUMENTS),
      correlationId: `demo-${this.#sequence}`,
    };
  }
}

/** What an operation needs to run. */
export interface WorkloadContext {
  readonly db: Database;
  readonly cache: Cache;
  /** Schema of the demo tables. */
  readonly schema: string;
  /** Seconds every cached value lives (in Redis and memory). */
  readonly cacheTtlSeconds: number;
}

/** A failure the demo raises on purpose, so that error rates are not zero. */
export class SimulatedFailure extends Error {
  override readonly name = 'SimulatedFailure';
}

/** Creates the demo tables in `schema` and seeds them (idempotent). */
export async function prepareTables(db: Database, schema: string): Promise<void> {
  await db.executeBatch([
    { text: `CREATE SCHEMA IF NOT EXISTS ${schema}`, label: 'schema' },
    {
      text: `CREATE TABLE IF NOT EXISTS ${schema}.users (id integer PRIMARY KEY, name text NOT NULL, plan text NOT NULL)`,
      label: 'users',
    },
    {
      text: `CREATE TABLE IF NOT EXISTS ${schema}.documents (id integer PRIMARY KEY, user_id integer NOT NULL, status text NOT NULL, pages integer NOT NULL)`,
      label: 'documents',
    },
    {
      text: `CREATE TABLE IF NOT EXISTS ${schema}.ocr_results (document_id integer PRIMARY KEY, characters integer NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`,
      label: 'ocr_results',
    },
    {
      text: `INSERT INTO ${schema}.users (id, name, plan) SELECT i, 'user ' || i, (ARRAY['free','team','enterprise'])[1 + i % 3] FROM generate_series(1, $1::int) AS i ON CONFLICT (id) DO NOTHING`,
      values: [DEMO_USERS],
      label: 'seed users',
    },
    {
      text: `INSERT INTO ${schema}.documents (id, user_id, status, pages) SELECT i, 1 + i % $2::int, (ARRAY['pending','done'])[1 + i % 2], 1 + i % 40 FROM generate_series(1, $1::int) AS i ON CONFLICT (id) DO NOTHING`,
      values: [DEMO_DOCUMENTS, DEMO_USERS],
      label: 'seed documents',
    },
  ]);
}

/** A user's row through the cache: memory, then Redis, then the database. */
function cachedUser(ctx: WorkloadContext, userId: number): Promise<unknown> {
  return ctx.cache.getOrSet(
    `user:${userId}`,
    () => ctx.db.getById(`${ctx.schema}.users`, userId) as Promise<unknown>,
    { ttlSeconds: ctx.cacheTtlSeconds },
  );
}

/** Simulated work (a model call, an OCR engine): the operation's own time, not a wait for a condition. */
function work(seconds: number): Promise<void> {
  return sleep(Math.round(seconds * 1000));
}

/**
 * Runs one planned operation inside `trackOperation` (so it becomes a span with its target).
 * Resolves `true` when it succeeded, `false` when it failed (failures are part of the workload).
 */
export async function runOperation(ctx: WorkloadContext, op: PlannedOperation): Promise<boolean> {
  const options = {
    userId: String(op.userId),
    correlationId: op.correlationId,
    kind: op.name === 'ai_layout_generation' ? 'ai_operation' : undefined,
  };
  try {
    await trackOperation(op.name, options, async () => {
      switch (op.name) {
        case 'ai_layout_generation': {
          await cachedUser(ctx, op.userId);
          await ctx.cache.getOrSet(
            `layout-template:${op.userId % 12}`,
            () => ({ grid: 12, columns: 1 + (op.userId % 4), generatedFor: op.userId }),
            { ttlSeconds: ctx.cacheTtlSeconds, tags: ['layout-templates'] },
          );
          await work(op.workSeconds);
          break;
        }
        case 'document_ocr': {
          const user = (await cachedUser(ctx, op.userId)) as { id: number } | undefined;
          await ctx.db.getByFilter(
            `${ctx.schema}.documents`,
            { user_id: user?.id ?? op.userId },
            { limit: 5, orderBy: { column: 'pages', direction: 'desc' } },
          );
          await work(op.workSeconds);
          if (!op.fails) {
            await ctx.db.executeBatch([
              {
                text: `INSERT INTO ${ctx.schema}.ocr_results (document_id, characters) VALUES ($1, $2) ON CONFLICT (document_id) DO UPDATE SET characters = EXCLUDED.characters, updated_at = now()`,
                values: [op.documentId, Math.round(op.workSeconds * 1e6) % 90_000],
                label: 'store OCR result',
              },
            ]);
          }
          break;
        }
        case 'validation': {
          const user = (await cachedUser(ctx, op.userId)) as { plan?: string } | undefined;
          await ctx.cache.getOrSet(
            `rules:${user?.plan ?? 'free'}`,
            () => ({ maxPages: 40, formats: ['pdf', 'png'] }),
            { ttlSeconds: ctx.cacheTtlSeconds },
          );
          await work(op.workSeconds);
          break;
        }
        case 'simple_query': {
          // The query itself takes the drawn time (pg_sleep in the FROM list), so the database
          // spans, the db.client.operation.duration histogram and slow-query alerts all see it.
          await ctx.db.query(
            `SELECT u.id, u.plan, (SELECT count(*) FROM ${ctx.schema}.documents d WHERE d.user_id = u.id) AS documents FROM ${ctx.schema}.users u, pg_sleep($2::float8) WHERE u.id = $1`,
            [op.userId, op.workSeconds],
            { correlationId: op.correlationId, table: `${ctx.schema}.users` },
          );
          break;
        }
      }
      if (op.fails) throw new SimulatedFailure(PROFILES.find((p) => p.name === op.name)?.failure);
    });
    return true;
  } catch (error) {
    if (error instanceof SimulatedFailure) return false;
    throw error;
  }
}
