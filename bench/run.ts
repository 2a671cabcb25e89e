/**
 * `npm run bench`: every benchmark, each printed as ratios against a baseline measured in the same
 * run. Absolute numbers swing with the machine; compare the ratios.
 *
 * `npm run bench -- cache` (or `cache-batch`, `cache-lock`, `cache-stampede`, `cache-cluster`, `imports`,
 * `idle`, `telemetry`, `alerts`, `db`, `http`, `summary`, `ingest`, `slo`) runs one group only.
 * `imports` measures the built entry points and `idle` the built sidecar's idle memory against a
 * hand-written OpenTelemetry app (about 5 minutes): run `npm run build` first. The `http`
 * group needs `wrk` on PATH (Debian: `apt-get install -y wrk`); `ingest` runs its own Node client
 * (about 5 minutes, 3 of them the RSS run: BENCH_INGEST_WARMUP_SECONDS and BENCH_INGEST_SECONDS set it).
 * BENCH_REDIS_URL (default redis://127.0.0.1:6379) is the Redis the alert and cache benchmarks use;
 * BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test) the PostgreSQL the database
 * benchmark uses. BENCH_ALERT_RATES (comma-separated alerts/s, default 5000,20000,50000) replaces
 * the rates the `alerts` group offers.
 */
import { benchAlertWrites } from './alerts.bench.ts';
import { benchCache } from './cache.bench.ts';
import { benchCacheBatch } from './cache-batch.bench.ts';
import { benchCacheCluster } from './cache-cluster.bench.ts';
import { benchCacheLock } from './cache-lock.bench.ts';
import { benchCacheStampede } from './cache-stampede.bench.ts';
import { benchDatabase } from './db.bench.ts';
import { benchHttp } from './http.bench.ts';
import { benchIdle } from './idle.bench.ts';
import { benchImports } from './imports.bench.ts';
import { benchIngest } from './ingest.bench.ts';
import { benchNameFlood } from './name-flood.bench.ts';
import { benchBudgets } from './slo.bench.ts';
import { benchSummary } from './summary.bench.ts';
import { benchProcessor, benchRules, benchTracking } from './telemetry.bench.ts';

const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const only = process.argv[2];
const wanted = (group: string) => only === undefined || only === group;

console.log(`perf-sidecar benchmarks on Node ${process.version}`);
if (wanted('imports')) benchImports();
if (wanted('idle')) await benchIdle(redisUrl);
if (wanted('telemetry')) {
  await benchTracking();
  await benchProcessor();
  await benchRules();
  await benchNameFlood();
}
if (wanted('alerts')) await benchAlertWrites(redisUrl);
if (wanted('db'))
  await benchDatabase(process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test');
if (wanted('cache')) await benchCache(redisUrl);
if (wanted('cache-batch')) await benchCacheBatch(redisUrl);
if (wanted('cache-lock')) await benchCacheLock(redisUrl);
if (wanted('cache-stampede')) await benchCacheStampede(redisUrl);
if (wanted('cache-cluster')) await benchCacheCluster(redisUrl);
if (wanted('http')) await benchHttp();
if (wanted('summary')) await benchSummary(redisUrl);
if (wanted('ingest')) await benchIngest(redisUrl);
if (wanted('slo')) await benchBudgets(redisUrl);
