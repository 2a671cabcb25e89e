/**
 * PostgreSQL URLs: the one rule for `DATABASE_URL` and for a URL handed to `createDatabase`.
 */
import type { z } from 'zod';
import { InvalidArgumentError } from '../shared/errors.ts';
import { secretUrl } from '../shared/urls.ts';

/** Schemes accepted; SQLAlchemy driver suffixes (`postgresql+asyncpg:`) are dropped. */
const POSTGRES_SCHEME = /^(postgres|postgresql)(\+[a-z0-9_]+)?:$/;

/** Accepted form of a PostgreSQL URL, for messages. */
export const DATABASE_URL_FORM =
  'postgresql://user:password@host:5432/database (postgres://, postgresql+asyncpg:// accepted)';

/**
 * A PostgreSQL URL text, normalised to the bare `postgresql://` scheme (`postgresql+asyncpg://` is
 * SQLAlchemy's way of naming a driver; pg wants the bare scheme). The value is never echoed.
 */
export const databaseUrlText: z.ZodType<string, string> = secretUrl(
  (p) => POSTGRES_SCHEME.test(p),
  'password',
  (text) => `postgresql://${text.slice(text.indexOf('://') + 3)}`,
);

/**
 * Checks and normalises a PostgreSQL URL handed over in code (rather than in `DATABASE_URL`) by
 * the same rules as `DATABASE_URL`: a URL, a PostgreSQL scheme (SQLAlchemy driver suffixes
 * dropped), a host. The value is never echoed: it may hold a password.
 *
 * @param url the URL to check.
 * @param argument name of the argument, for the error message.
 * @returns the URL with the bare `postgresql://` scheme.
 * @throws {InvalidArgumentError} naming the problem and the accepted form.
 */
export function normaliseDatabaseUrl(url: unknown, argument = 'url'): string {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new InvalidArgumentError(
      argument,
      `is ${typeof url === 'string' ? 'empty' : typeof url}`,
      DATABASE_URL_FORM,
    );
  }
  const result = databaseUrlText.safeParse(url);
  if (result.success) return result.data;
  throw new InvalidArgumentError(
    argument,
    `the value ${result.error.issues[0]?.message ?? 'is invalid'}`,
    DATABASE_URL_FORM,
  );
}
