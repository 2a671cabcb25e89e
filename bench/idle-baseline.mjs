// The `idle` benchmark's baseline app (bench/idle.bench.ts starts it under
// bench/idle-baseline-register.mjs; never run by hand): a bare Hono app on @hono/node-server with
// `/livez` and the Prometheus text at `/metrics`, a pg Pool (not connected: perf-sidecar opens no
// database connection without DATABASE_URL either) and, when REDIS_URL is set, an ioredis client,
// connected before the app says it listens. Prints one JSON line `{"url":"http://..."}` on stdout
// once it answers HTTP. Plain JavaScript: see the register file.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { Redis } from 'ioredis';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.BENCH_DATABASE_URL, max: 4 });
const redis = process.env.REDIS_URL ? new Redis(process.env.REDIS_URL) : undefined;
if (redis) await new Promise((resolve, reject) => redis.once('ready', resolve).once('error', reject));

// The preload has run by now (--import): its module instance is the one this import gets.
const { prometheus, serializer } = await import('./idle-baseline-register.mjs');
const app = new Hono();
app.get('/livez', (c) => c.json({ status: 'pass' }));
app.get('/metrics', async (c) => {
  const { resourceMetrics } = await prometheus.collect();
  return c.text(serializer.serialize(resourceMetrics));
});

const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => {
  process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${info.port}` })}\n`);
});
const stop = () => {
  server.close();
  void Promise.all([pool.end(), redis?.quit()]).finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
