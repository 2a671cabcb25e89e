/**
 * Alert writes per second to the real Redis through the sink (dedup off, every alert a record),
 * against raw ioredis writing the same records with MULTI + LPUSH + LTRIM in batches of the same
 * size.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { AlertSink, RedisAlertStore } from '../src/alerts/index.ts';
import { buildAlert } from '../src/alerts/schema.ts';
import { setLogLevel } from '../src/shared/logger.ts';

const N = 20_000;
const BATCH = 500;

function input(i: number) {
  return {
    type: 'target_exceeded' as const,
    service: 'bench',
    operation: `op_${i % 1000}`,
    value: 3.2,
    threshold: 2,
    unit: 's' as const,
    summary: `Operation "op_${i % 1000}" took 3.200 s, over its 2 s target (1.6x).`,
    trace: { trace_id: '0af7651916cd43dd8448eb211c80319c', span_id: 'b7ad6b7169203331', sampled: true },
  };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

export async function benchAlertWrites(url: string): Promise<void> {
  setLogLevel('error');
  const redis = new Redis(url);
  const prefix = `perf-bench:${randomUUID()}:`;
  const rawRates: number[] = [];
  const builtRates: number[] = [];
  const sinkRates: number[] = [];
  for (let round = 0; round < 5; round++) {
    // Raw ioredis: the same JSON records, MULTI/LPUSH/LTRIM per batch, all batches pipelined.
    const records = Array.from({ length: N }, (_, i) => JSON.stringify(buildAlert(input(i))));
    const rawList = `${prefix}raw`;
    let start = performance.now();
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < N; i += BATCH) {
      writes.push(
        redis
          .multi()
          .lpush(rawList, ...records.slice(i, i + BATCH))
          .ltrim(rawList, 0, 999)
          .exec(),
      );
    }
    await Promise.all(writes);
    rawRates.push(N / ((performance.now() - start) / 1000));

    // Raw ioredis again, building and serialising each record inside the timing, as the sink must.
    start = performance.now();
    const builtWrites: Promise<unknown>[] = [];
    for (let i = 0; i < N; i += BATCH) {
      const batch: string[] = [];
      for (let j = i; j < i + BATCH; j++) batch.push(JSON.stringify(buildAlert(input(j))));
      builtWrites.push(
        redis
          .multi()
          .lpush(rawList, ...batch)
          .ltrim(rawList, 0, 999)
          .exec(),
      );
    }
    await Promise.all(builtWrites);
    builtRates.push(N / ((performance.now() - start) / 1000));

    // The sink: emit N alerts (each builds its record: id, fingerprint, JSON), then flush.
    const client = new Redis(url, { enableOfflineQueue: false, commandTimeout: 5000 });
    const store = new RedisAlertStore({ client, listMax: 1000, ownsClient: true });
    await new Promise<void>((resolve) => client.once('ready', () => resolve()));
    const sink = new AlertSink({
      store,
      repeatSeconds: 0,
      bufferMax: N,
      keyPrefix: `${prefix}${round}:`,
      batchSize: BATCH,
    });
    start = performance.now();
    for (let i = 0; i < N; i++) sink.emit(input(i));
    await sink.flush();
    sinkRates.push(N / ((performance.now() - start) / 1000));
    if (sink.stats().written !== N) throw new Error(`sink wrote ${sink.stats().written} of ${N}`);
    await sink.close();
  }
  const raw = median(rawRates);
  const built = median(builtRates);
  const viaSink = median(sinkRates);
  console.log(`\nalert writes to Redis (${N} records per round, batches of ${BATCH}, median of 5 rounds)`);
  console.table([
    {
      case: 'raw ioredis MULTI LPUSH+LTRIM, records pre-serialised',
      'records/s': Math.round(raw).toLocaleString('en-US'),
      'x baseline': '1.00',
    },
    {
      case: 'raw ioredis, buildAlert + JSON.stringify in the loop',
      'records/s': Math.round(built).toLocaleString('en-US'),
      'x baseline': (built / raw).toFixed(2),
    },
    {
      case: 'AlertSink.emit + flush',
      'records/s': Math.round(viaSink).toLocaleString('en-US'),
      'x baseline': (viaSink / raw).toFixed(2),
    },
  ]);
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
}
