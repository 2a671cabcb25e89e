/**
 * The check of a token typed into the token form: RFC 6750's `b64token` (letters, digits,
 * `- . _ ~ + /`, then `=` padding), the only characters a bearer header may carry. A browser's
 * `fetch()` throws on a header value outside ISO-8859-1, so anything else would fail every request
 * (and the page would ask again, and fail again) rather than be refused by the sidecar. Pure: no
 * DOM, so that it runs (and is tested) under Node as well.
 */

/** RFC 6750 2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** What the form says of a token it cannot send. */
export const BEARER_TOKEN_PROBLEM =
  'A token holds only letters A–Z and a–z, digits, and - . _ ~ + / (then = at the end), with no ' +
  'spaces: check that nothing else was copied with it.';

/** Whether `text` can be sent as `Authorization: Bearer <text>`. */
export function isBearerToken(text: string): boolean {
  return B64TOKEN.test(text);
}
