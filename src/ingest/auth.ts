/**
 * The receivers' bearer token. The comparison takes the same time whatever is sent: both sides are
 * SHA-256 digests (equal lengths, as `timingSafeEqual` needs, whatever the lengths of the tokens)
 * compared with `timingSafeEqual`. The token is never logged nor put in an error.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Whether an `Authorization` value (HTTP header or gRPC metadata) carries the token. */
export type TokenCheck = (authorization: string | undefined) => boolean;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** The bearer token of an `Authorization` value (`Bearer <token>`, scheme case-insensitive), or `undefined`. */
function bearerOf(authorization: string): string | undefined {
  const value = authorization.trim();
  if (value.length < 7 || value.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = value.slice(7).trim();
  return token === '' ? undefined : token;
}

/**
 * The check of `Authorization` values against `token`; every value passes when there is no token.
 *
 * @param token the token the receivers require, or `undefined` for none.
 */
export function tokenCheck(token: string | undefined): TokenCheck {
  if (token === undefined) return () => true;
  const expected = digest(token);
  return (authorization) => {
    const given = typeof authorization === 'string' ? bearerOf(authorization) : undefined;
    // Digested even when absent, so a missing token costs what a wrong one does.
    const match = timingSafeEqual(digest(given ?? ''), expected);
    return match && given !== undefined;
  };
}
