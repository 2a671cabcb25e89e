/**
 * PostgreSQL URLs: the one rule for `DATABASE_URL` and for a URL handed to `createDatabase`.
 */
import { z } from 'zod';
import { InvalidArgumentError } from '../shared/errors.ts';
import { accepts } from '../shared/options.ts';
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

/** The normalised URL, or what is wrong with the value in words that never echo it. */
function checkDatabaseUrl(url: unknown): { readonly url: string } | { readonly problem: string } {
  if (typeof url !== 'string' || url.trim() === '') {
    return { problem: `is ${typeof url === 'string' ? 'empty' : typeof url}` };
  }
  const result = databaseUrlText.safeParse(url);
  if (result.success) return { url: result.data };
  return { problem: `the value ${result.error.issues[0]?.message ?? 'is invalid'}` };
}

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
  const checked = checkDatabaseUrl(url);
  if ('url' in checked) return checked.url;
  throw new InvalidArgumentError(argument, checked.problem, DATABASE_URL_FORM);
}

/**
 * The `url` option: the rule of {@link normaliseDatabaseUrl} as a schema, so that an options
 * schema reports a bad URL in the same words (and never echoes it).
 */
export const databaseUrlOption: z.ZodType<string, string> = accepts(
  z.string().transform((text, ctx) => {
    const checked = checkDatabaseUrl(text);
    if ('url' in checked) return checked.url;
    ctx.addIssue({ code: 'custom', message: checked.problem, params: { problem: checked.problem } });
    return z.NEVER;
  }),
  DATABASE_URL_FORM,
  true,
);
