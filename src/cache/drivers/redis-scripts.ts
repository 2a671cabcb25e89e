/**
 * The Lua scripts of the Redis driver (see `redis.ts`), each with its SHA-1 for `EVALSHA`. Every
 * script that changes something also publishes the matching bus message, in the same atomic step.
 */
import { createHash } from 'node:crypto';

// Reads the server's clock in ms (`now`), used by the scripts below.
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

// Prepends the format (ARGV[6]) and the end of freshness on the server's clock to the envelope
// tail, writes it for ttl + grace, publishes; returns the clock reading, which refreshes the
// caller's offset.
const WRITE = `${NOW}
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[6] .. ' ' .. string.format('%d', now + ttl) .. ARGV[1], 'PX', ttl + tonumber(ARGV[3]))
redis.call('PUBLISH', ARGV[4], ARGV[5])
return now
`;

// WRITE for each of KEYS (ARGV from 3 on: format, tail, ttl, grace per key), then one PUBLISH of
// ARGV[2] on ARGV[1]: a chunk of a batch write is announced atomically with it, in one message.
const WRITE_MANY = `${NOW}
for i, key in ipairs(KEYS) do
  local b = (i - 1) * 4 + 2
  local ttl = tonumber(ARGV[b + 3])
  redis.call('SET', key, ARGV[b + 1] .. ' ' .. string.format('%d', now + ttl) .. ARGV[b + 2], 'PX', ttl + tonumber(ARGV[b + 4]))
end
redis.call('PUBLISH', ARGV[1], ARGV[2])
return now
`;

const DELETE = `
local n = redis.call('DEL', unpack(KEYS))
redis.call('PUBLISH', ARGV[1], ARGV[2])
return n
`;

// A new version is the larger of the old one plus one and the server's clock in ms: versions only
// ever grow, and a tag key that expired and is created again can never repeat a version that an
// entry still remembers. Only equality of versions is compared, never clocks. The clock reading is
// returned last.
const INVALIDATE = `${NOW}
local versions = {}
local changed = {}
for i, key in ipairs(KEYS) do
  local v = math.max((tonumber(redis.call('GET', key)) or 0) + 1, now)
  redis.call('SET', key, string.format('%d', v), 'PX', ARGV[3])
  versions[i] = v
  changed[ARGV[i + 3]] = v
end
redis.call('PUBLISH', ARGV[1], cjson.encode({s = ARGV[2], t = changed}))
versions[#versions + 1] = now
return versions
`;

/** A script's text and SHA-1. */
export interface Script {
  readonly text: string;
  readonly sha: string;
}

function script(text: string): Script {
  return { text, sha: createHash('sha1').update(text).digest('hex') };
}

// Takes a key's lock for ARGV[2] ms with the caller's token (ARGV[1]). Returns 0 when taken, else
// the holder's remaining ms (at least 1, so never mistaken for 0), or -1 for a lock without expiry.
const ACQUIRE = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then return -1 end
return math.max(ttl, 1)
`;

// Compare-and-delete: a holder whose lock expired (and was taken by someone else) must not delete
// the new holder's lock. Publishes ARGV[3] when it deleted, so that waiters wake at once.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
`;

// The server's clock, as TIME gives it. Called with one key (the prefix version key) only so that
// a cluster client sends it to the master owning the cache's slot, whose clock the scripts use.
const TIME = `return redis.call('TIME')`;

/** The driver's scripts. */
export const SCRIPTS = {
  write: script(WRITE),
  writeMany: script(WRITE_MANY),
  delete: script(DELETE),
  invalidate: script(INVALIDATE),
  acquire: script(ACQUIRE),
  release: script(RELEASE),
  time: script(TIME),
};
