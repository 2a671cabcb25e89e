/**
 * Caches for tests: each test gets its own Redis prefix on the shared test Redis, and everything it
 * opened is closed and its keys deleted afterwards.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { type Logger, pino } from 'pino';
import {
  assembleCache,
  type CacheParts,
  type CacheSeams,
  closeCacheParts,
} from '../../src/cache/assemble.ts';
import type { ResolvedCallOptions } from '../../src/cache/call-options.ts';
import { Cache, type CacheOptions, createCache } from '../../src/cache/index.ts';
import { ChaosBus, ChaosDriver } from './cache-chaos.ts';
import { ROOT } from './child.ts';
import { TEST_REDIS_URL } from './env.ts';
import { waitFor } from './wait.ts';

/** A pino logger that keeps its lines (parsed) for a test to read. */
export function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

/** Per-call options as `set`/`getOrSet` resolve them (60 s TTL, no grace, no tags), with `over` applied. */
export function callOptions(over: Partial<ResolvedCallOptions> = {}): ResolvedCallOptions {
  return { ttlMs: 60_000, absentTtlMs: 30_000, graceMs: 0, tags: [], ...over };
}

/** Chaos wrappers for the driver and bus a cache builds, and the seams that put them in place. */
function chaosSeams(): { seams: CacheSeams; made: () => { l2: ChaosDriver; bus: ChaosBus } } {
  let l2: ChaosDriver | undefined;
  let bus: ChaosBus | undefined;
  const seams: CacheSeams = {
    l2: (driver) => {
      l2 = new ChaosDriver(driver);
      return l2;
    },
    bus: (options) => {
      bus = new ChaosBus(options);
      return bus;
    },
  };
  const made = () => {
    if (l2 === undefined || bus === undefined) throw new Error('the cache did not use the chaos seams');
    return { l2, bus };
  };
  return { seams, made };
}

/** Tracks what a test opened. */
export class CacheFixture {
  /** This test's key prefix. */
  readonly prefix = `perf-test:${randomUUID()}:`;
  /** A plain client on the test Redis, for looking at keys directly. */
  readonly redis: Redis;
  readonly #caches: Cache[] = [];
  readonly #parts: CacheParts[] = [];

  constructor(url = TEST_REDIS_URL) {
    this.redis = new Redis(url, { maxRetriesPerRequest: 1 });
    this.redis.on('error', () => undefined);
  }

  /** A cache on the test Redis under this test's prefix, connected (Redis and bus) before it returns. */
  async open(options: CacheOptions = {}): Promise<Cache> {
    const cache = this.openNow({ redis: TEST_REDIS_URL, ...options });
    if (!(await cache.ready())) throw new Error('cache did not connect to the test Redis');
    return cache;
  }

  /** A cache under this test's prefix, not waited for (memory-only when `redis` is not given). */
  openNow(options: CacheOptions = {}): Cache {
    const cache = createCache(this.#named(options));
    this.#caches.push(cache);
    return cache;
  }

  /**
   * A cache on the test Redis whose driver and bus are chaos wrappers (pass-through until a test
   * arms a fault), connected before it returns.
   */
  async openChaos(options: CacheOptions = {}): Promise<{ cache: Cache; l2: ChaosDriver; bus: ChaosBus }> {
    const { seams, made } = chaosSeams();
    const cache = new Cache(this.#named({ redis: TEST_REDIS_URL, ...options }), seams);
    this.#caches.push(cache);
    const chaos = made();
    if (!(await cache.ready())) throw new Error('chaos cache did not connect to the test Redis');
    return { cache, ...chaos };
  }

  /** {@link parts} on the test Redis with a chaos driver and bus, connected before it returns. */
  async chaosParts(
    options: CacheOptions = {},
  ): Promise<{ parts: CacheParts; l2: ChaosDriver; bus: ChaosBus }> {
    const { seams, made } = chaosSeams();
    const parts = this.parts({ redis: TEST_REDIS_URL, ...options }, seams);
    const chaos = made();
    await waitFor(() => parts.link?.connected === true && parts.bus?.connected === true, {
      what: 'the collaborators to connect to the test Redis',
    });
    return { parts, ...chaos };
  }

  /**
   * A cache's collaborators without the facade, for exercising one of them directly (memory-only
   * unless `redis` is given); closed by {@link cleanup}.
   */
  parts(options: CacheOptions = {}, seams?: CacheSeams): CacheParts {
    const parts = assembleCache(this.#named(options), seams);
    this.#parts.push(parts);
    return parts;
  }

  /** `options` with this test's prefix and a name of its own. */
  #named(options: CacheOptions): CacheOptions {
    return { prefix: this.prefix, name: `test-${this.#caches.length + this.#parts.length}`, ...options };
  }

  /** The Redis key of a cache value. */
  valueKey(key: string): string {
    return `${this.prefix}v:${key}`;
  }

  /** Closes every cache and deletes this test's keys. */
  async cleanup(): Promise<void> {
    await Promise.all(this.#caches.map((c) => c.close()));
    await Promise.all(
      this.#parts.map((p) => (p.lifecycle.closed ? undefined : closeCacheParts(p, new Error('closed')))),
    );
    if (this.redis.status === 'ready') {
      const keys = await this.redis.keys(`${this.prefix}*`);
      if (keys.length > 0) await this.redis.del(...keys);
    }
    this.redis.disconnect();
  }
}

/** One answer of a cache peer process (see test/cache/fixtures/peer.ts). */
export interface PeerAnswer {
  readonly id: number | string;
  readonly ok: boolean;
  /** The call's result; `'<undefined>'` stands for `undefined` (JSON has none). */
  readonly result?: unknown;
  readonly error?: string;
}

/**
 * A cache in a child process of its own (`node test/cache/fixtures/peer.ts`), on the given Redis
 * and prefix, driven one command at a time. Stopped by its PID.
 */
export class CachePeer {
  readonly #child: ChildProcess;
  readonly #answers = new Map<number | string, PeerAnswer>();
  /** perf-sidecar's log lines printed by the peer (pino JSON), parsed. */
  readonly logs: Record<string, unknown>[] = [];
  #stderr = '';
  #next = 0;

  /**
   * Starts the peer. `firstSet` (`key=value`) makes it issue `set(key, value)` in the same tick as
   * `createCache`; its answer has the id `'first-set'`.
   */
  constructor(
    redisUrl: string,
    prefix: string,
    options: { name?: string; firstSet?: string; cacheOptions?: Record<string, unknown> } = {},
  ) {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      PEER_REDIS_URL: redisUrl,
      PEER_PREFIX: prefix,
      PEER_NAME: options.name ?? 'peer',
    };
    if (options.firstSet !== undefined) env.PEER_FIRST_SET = options.firstSet;
    if (options.cacheOptions !== undefined) env.PEER_OPTIONS = JSON.stringify(options.cacheOptions);
    this.#child = spawn(process.execPath, [join(ROOT, 'test/cache/fixtures/peer.ts')], {
      cwd: ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-4000);
    });
    createInterface({ input: this.#child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (parsed.peer === true)
        this.#answers.set(parsed.id as number | string, parsed as unknown as PeerAnswer);
      else if (this.logs.length < 1000) this.logs.push(parsed);
    });
  }

  /** Waits for the answer with `id` (bounded). */
  async answer(id: number | string): Promise<PeerAnswer> {
    const found = await waitFor(() => this.#answers.get(id), {
      timeoutMs: 15_000,
      what: `cache peer answer ${id}${this.#stderr ? ` (stderr: ${this.#stderr})` : ''}`,
    });
    this.#answers.delete(id);
    return found;
  }

  /** Sends one command and returns its result; throws when the call failed in the peer. */
  async call(op: string, fields: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.#next++;
    this.#child.stdin?.write(`${JSON.stringify({ id, op, ...fields })}\n`);
    const answer = await this.answer(id);
    if (!answer.ok) throw new Error(`cache peer ${op} failed: ${answer.error}`);
    return answer.result;
  }

  /** The peer's PID. */
  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Sends one command without waiting; {@link answer} with the returned id gives its answer. */
  send(op: string, fields: Record<string, unknown> = {}): number {
    const id = this.#next++;
    this.#child.stdin?.write(`${JSON.stringify({ id, op, ...fields })}\n`);
    return id;
  }

  /** Kills the peer with SIGKILL (by its PID) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  /** Closes the peer's cache and waits for the process to exit (SIGKILL by PID if it does not). */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin?.write(`${JSON.stringify({ id: this.#next++, op: 'close' })}\n`);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
