/**
 * Fails the whole run, loudly, when the services the tests need do not answer. Tests never skip
 * because a service is missing.
 */

import { Redis } from 'ioredis';
import pg from 'pg';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from './helpers/env.ts';

export default async function setup(): Promise<void> {
  const redis = new Redis(TEST_REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 3000,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(
      `Redis does not answer at ${TEST_REDIS_URL} (${(error as Error).message}); the tests need a real Redis`,
    );
  } finally {
    redis.disconnect();
  }
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new Error(
      `PostgreSQL does not answer at ${TEST_DATABASE_URL} (${(error as Error).message}); the tests need a real PostgreSQL`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}
