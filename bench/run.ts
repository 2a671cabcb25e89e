/**
 * `npm run bench`: every benchmark, each printed as ratios against a baseline measured in the same
 * run. Absolute numbers swing with the machine; compare the ratios.
 *
 * BENCH_REDIS_URL (default redis://127.0.0.1:6379) is the Redis the alert benchmark writes to;
 * BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test) the PostgreSQL the database
 * benchmark uses.
 */
import { benchAlertWrites } from './alerts.bench.ts';
import { benchDatabase } from './db.bench.ts';
import { benchProcessor, benchTracking } from './telemetry.bench.ts';

console.log(`perf-sidecar benchmarks on Node ${process.version}`);
await benchTracking();
await benchProcessor();
await benchAlertWrites(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
await benchDatabase(process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test');
