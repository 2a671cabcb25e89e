/**
 * Where the test services are. The machine (and CI) run PostgreSQL and Redis on loopback; these
 * variables point the tests elsewhere.
 */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

/** `url` with `password` set (trust authentication ignores it): proves a password never leaks. */
export function withPassword(url: string, password: string): string {
  const parsed = new URL(url);
  parsed.password = password;
  return parsed.toString();
}
