/**
 * URLs that may carry a secret (a Redis or PostgreSQL password, an OTLP token): how they are shown
 * in logs and errors, and how a text is checked to be one without echoing it.
 */
import { z } from 'zod';

/**
 * Replaces the password (and a token-like username when there is no password) of a URL with `***`.
 * Text that is not a URL is replaced as a whole, since it cannot be redacted reliably.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    else if (parsed.username && parsed.protocol.startsWith('redis')) parsed.username = '***';
    return parsed.toString();
  } catch {
    return '[unparseable URL]';
  }
}

/**
 * A URL text that may hold a secret: parsed, its scheme checked, a host required, the value never
 * echoed in a problem. `normalise` rewrites the accepted text (default: unchanged).
 *
 * @param acceptsScheme whether a `URL.protocol` (with its colon) is accepted.
 * @param secretKind what the value may hold, for the message (`password`, `token`).
 */
export function secretUrl(
  acceptsScheme: (protocol: string) => boolean,
  secretKind: string,
  normalise: (text: string) => string = (text) => text,
): z.ZodType<string, string> {
  return z
    .string()
    .trim()
    .transform((text, ctx) => {
      let url: URL;
      try {
        url = new URL(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: `is not a URL (value hidden: it may hold a ${secretKind})` });
        return z.NEVER;
      }
      if (!acceptsScheme(url.protocol)) {
        ctx.addIssue({ code: 'custom', message: `has the unsupported scheme "${url.protocol}"` });
        return z.NEVER;
      }
      if (!url.hostname) {
        ctx.addIssue({ code: 'custom', message: 'has no host' });
        return z.NEVER;
      }
      return normalise(text);
    });
}

const REDIS_SCHEMES = new Set(['redis:', 'rediss:']);

/** A `redis://` or `rediss://` URL with a host (the value is never echoed). */
export const redisUrlText: z.ZodType<string, string> = secretUrl((p) => REDIS_SCHEMES.has(p), 'password');

/**
 * `text` with the user information of a URL at its start (`user:password@`) replaced by `***@`,
 * whether or not the rest parses: what an error may echo of a URL that was not meant to hold a
 * secret but was given one.
 */
export function hideUserinfo(text: string): string {
  return text.replace(/^(\s*[A-Za-z][A-Za-z0-9+.-]*:\/\/)[^/?#]*@/, '$1***@');
}

/** The accepted form of {@link linkBaseUrlText}, as errors and the configuration table say it. */
export const LINK_BASE_URL_FORM =
  'an http:// or https:// base URL without user, password, query or fragment, for example http://127.0.0.1:16686';

/**
 * A base URL that links are built on by appending a path (`${base}/trace/<id>`) and that is shown
 * to whoever reads them: `http:` or `https:`, a host, no user or password (every reader would see
 * them), no query or fragment (an appended path would land inside them). Normalised to its origin
 * and path, without trailing slashes. Its problems never quote the value, which may hold a password.
 */
export const linkBaseUrlText: z.ZodType<string, string> = z
  .string()
  .trim()
  .transform((text, ctx) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not a URL' });
      return z.NEVER;
    }
    const problem =
      url.protocol !== 'http:' && url.protocol !== 'https:'
        ? `has the scheme "${url.protocol}", not http: or https:`
        : !url.hostname
          ? 'has no host'
          : url.username !== '' || url.password !== ''
            ? 'holds a user name or password (user:password@), which every reader of its links would see'
            : url.search !== '' || url.hash !== ''
              ? 'has a query or fragment, inside which an appended path would land'
              : undefined;
    if (problem !== undefined) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  });
