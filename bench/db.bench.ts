/**
 * The database service against raw pg on the same pool, with the NodeSDK running (spans go to a
 * discarding exporter):
 * 1. `getById` vs `pool.query` of the statement getById sends;
 * 2. a 100-INSERT `executeBatch` (pipelined, and one statement at a time) vs 100 sequential awaits
 *    of `pool.query` (autocommit each), and vs 100 awaits inside one transaction.
 *
 * BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test) is where it runs; it works in
 * a schema of its own and drops it afterwards.
 */
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../src/config.ts';
import { type BatchOperation, createDatabase, type Database } from '../src/db/index.ts';
import { startTelemetry, stopTelemetry } from '../src/telemetry/index.ts';
import { compare, DiscardExporter } from './lib.ts';

const ROWS = 1000;
const BATCH = 100;

async function insertsSequential(
  db: Database,
  table: string,
  base: number,
  inTransaction: boolean,
): Promise<void> {
  const client = inTransaction ? await db.pool.connect() : undefined;
  const run = (text: string, values?: unknown[]) => (client ?? db.pool).query(text, values);
  try {
    if (inTransaction) await run('BEGIN');
    for (let i = 0; i < BATCH; i++)
      await run(`INSERT INTO ${table} (id, name) VALUES ($1, $2)`, [base + i, 'x']);
    if (inTransaction) await run('COMMIT');
  } finally {
    client?.release();
  }
}

function inserts(table: string, base: number): BatchOperation[] {
  return Array.from({ length: BATCH }, (_, i) => ({
    text: `INSERT INTO ${table} (id, name) VALUES ($1, $2)`,
    values: [base + i, 'x'],
  }));
}

export async function benchDatabase(url: string): Promise<void> {
  const config = loadConfig({ LOG_LEVEL: 'error', DATABASE_URL: url });
  startTelemetry({ config, instrumentations: [], traceExporter: new DiscardExporter() });
  await new Promise((resolve) => setTimeout(resolve, 200));
  const schema = `perf_bench_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const options = { url, poolSize: 4, maxOverflow: 0, slowQuerySeconds: 60 };
  const db = await createDatabase(options);
  const sequentialDb = await createDatabase({ ...options, pipeline: false });
  try {
    await db.query(`CREATE SCHEMA ${schema}`);
    await db.query(`CREATE TABLE ${schema}.items (id integer PRIMARY KEY, name text NOT NULL)`);
    await db.query(`INSERT INTO ${schema}.items SELECT g, 'item ' || g FROM generate_series(1, ${ROWS}) g`);
    await db.query(`CREATE TABLE ${schema}.log (id bigint NOT NULL, name text NOT NULL)`);
    const items = `${schema}.items`;
    const byId = `SELECT * FROM "${schema}"."items" WHERE "id" = $1 LIMIT 1`;
    let n = 0;
    await compare(
      'getById vs raw pool.query of the same statement (same pool of 4, real PostgreSQL)',
      [
        { name: 'raw pool.query', run: () => db.pool.query(byId, [(n++ % ROWS) + 1]) },
        { name: 'db.getById', run: () => db.getById(items, (n++ % ROWS) + 1) },
      ],
      { batch: 200, yieldEachBatch: true },
    );

    const log = `${schema}.log`;
    let base = 0;
    const next = () => {
      base += BATCH;
      return base;
    };
    await compare(
      `${BATCH} INSERTs: executeBatch vs sequential awaits (one op = ${BATCH} statements)`,
      [
        {
          name: `${BATCH} awaits of pool.query (autocommit)`,
          run: () => insertsSequential(db, log, next(), false),
        },
        { name: `${BATCH} awaits in one transaction`, run: () => insertsSequential(db, log, next(), true) },
        { name: 'executeBatch, pipeline off', run: () => sequentialDb.executeBatch(inserts(log, next())) },
        { name: 'executeBatch (pipelined)', run: () => db.executeBatch(inserts(log, next())) },
      ],
      { batch: 1, timeMs: 600 },
    );
  } finally {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await sequentialDb.close();
    await db.close();
    await stopTelemetry();
  }
}
