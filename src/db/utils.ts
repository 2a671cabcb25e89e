/**
 * Small pure helpers of the database service.
 */
export { errorText } from '../shared/errors.ts';
export { roundTo as round } from '../shared/numbers.ts';
export { untraced } from '../shared/tracing.ts';

/** `error` if it is an Error, else an Error carrying its text. */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Replaces a URL's password in what the service passes on (messages, errors). */
export interface Scrubber {
  /** The text with the password (plain or URL-encoded) replaced by `***`. */
  text(text: string): string;
  /** Scrubs an error's message in place (driver errors can echo connection details) and returns it. */
  error<T>(error: T): T;
}

/** The {@link Scrubber} of a URL's password; it changes nothing when the URL has none. */
export function scrubberFor(url: string): Scrubber {
  const password = new URL(url).password;
  const secret = password === '' ? undefined : decodeURIComponent(password);
  const text = (value: string): string =>
    secret === undefined
      ? value
      : value.replaceAll(secret, '***').replaceAll(encodeURIComponent(secret), '***');
  return {
    text,
    error(error) {
      if (secret !== undefined && error instanceof Error) error.message = text(error.message);
      return error;
    },
  };
}
