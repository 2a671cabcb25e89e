/**
 * The token form's check, under Node (bearer.ts touches no DOM): RFC 6750's b64token, what a bearer
 * header can carry; anything else would make the browser's fetch() throw on every request.
 */
import { describe, expect, it } from 'vitest';
import { BEARER_TOKEN_PROBLEM, isBearerToken } from '../../src/ui/bearer.ts';

describe('the token check', () => {
  it('accepts what RFC 6750 calls a b64token', () => {
    for (const token of [
      'dashboard-token-0123456789abcdef',
      'a',
      'A-Z.a_z~0+9/',
      'c2VjcmV0',
      'c2VjcmV0==',
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-nature_x',
    ]) {
      expect(isBearerToken(token), token).toBe(true);
      // What it accepts, a header carries.
      expect(() => new Headers({ authorization: `Bearer ${token}` })).not.toThrow();
    }
  });

  it('refuses anything else: spaces, other characters, padding inside, nothing', () => {
    for (const token of [
      '',
      'two words',
      ' leading',
      'tab\there',
      'line\nbreak',
      'tökén',
      'to€ken',
      '令牌',
      'emoji-🔑',
      '=padding-first',
      'pad=inside',
      '"quoted"',
      'semi;colon',
      'a,b',
    ]) {
      expect(isBearerToken(token), JSON.stringify(token)).toBe(false);
    }
    // The reason the page needs the check: a header cannot carry these at all.
    expect(() => new Headers({ authorization: 'Bearer to€ken' })).toThrow(TypeError);
  });

  it('says which characters a token may hold', () => {
    expect(BEARER_TOKEN_PROBLEM).toContain('- . _ ~ + /');
  });
});
