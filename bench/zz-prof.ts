import { Redis } from 'ioredis';
import { emptyAggregate } from '../src/telemetry/aggregate.ts';
import { RedisRollupStore } from '../src/telemetry/rollup.ts';
import { planTiers, tierKeyName } from '../src/telemetry/rollup-tiers.ts';
const redis = new Redis('redis://127.0.0.1:6379');
await redis.ping();
const prefix = `zzprof:`;
const store = new RedisRollupStore({ client: redis, keyPrefix: prefix, retentionDays: 40, maxOperations: 20000 });
const now = Math.floor(Date.now() / 60000);
if (process.argv[2] === 'seed') {
  for (let d = 0; d < 30; d++) {
    const ops = new Map();
    for (let i = 0; i < 1000; i++) { const a = emptyAggregate(true); a.count = 5; a.sum = 1; a.max = 0.4; a.min = 0.1; a.breaches = 1; a.errors=1; a.frustrated=0;
      for (const b of [0.1,0.25,0.5,1]) a.buckets.set(b, 1); ops.set(`bench_op_${i}`, a); }
    await store.write([{ minute: now - d * 1440 - 5, operations: ops, users: new Map() }], () => 1);
  }
}
const from = now - 720 * 60 + 1;
const periods = planTiers(from, now, true);
for (let r = 0; r < 3; r++) {
  let t = performance.now();
  const p = redis.pipeline();
  for (const per of periods) p.hgetall(`${prefix}${tierKeyName(per.level, per.start)}`);
  const res = await p.exec();
  const tExec = performance.now() - t;
  let fields = 0; for (const [, h] of res!) fields += Object.keys(h as object).length;
  t = performance.now();
  const p2 = redis.pipeline();
  for (const per of periods) p2.call('HGETALL', `${prefix}${tierKeyName(per.level, per.start)}`);
  await p2.exec();
  const tCall = performance.now() - t;
  t = performance.now();
  const read = await store.read({ fromMinute: from, toMinute: now });
  const tRead = performance.now() - t;
  console.log(`periods ${periods.length} fields ${fields}: pipeline hgetall ${tExec.toFixed(1)} ms, raw call ${tCall.toFixed(1)} ms, store.read ${tRead.toFixed(1)} ms, ops ${read.operations.size}`);
}
redis.disconnect();
