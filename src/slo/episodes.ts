/**
 * Burn-rate episodes and their records. An episode opens with one `firing` record and closes with
 * one `resolved` record; nothing is written in between, however long it lasts.
 *
 * With Redis, an episode is a field of the `slo:episodes` hash, and the record is pushed to the
 * alert list by the same script that opens or closes the field, after checking the evaluator lease:
 * exactly one record per transition across all instances, and a new lease holder sees the episodes
 * its predecessor opened (it does not fire them again). Without Redis, episodes are kept in memory
 * and records go through the alert sink (never folded: they carry a status).
 */
import type { AlertInput, AlertRecord } from '../alerts/index.ts';
import { buildAlert } from '../alerts/internal.ts';
import type { RedisClient } from '../shared/redis.ts';
import { untraced } from '../shared/tracing.ts';
import { SLO_KEYS } from './semconv.ts';

/** An open episode. */
export interface Episode {
  /** The firing record's id. */
  readonly id: string;
  /** When it fired, ms since epoch. */
  readonly startsAtMs: number;
  /** The operation's budget field name, service and operation name. */
  readonly field: string;
  readonly service: string;
  readonly operation: string;
  /** `page` or `ticket`. */
  readonly severity: string;
  /** The long window of the row that fired it, minutes. */
  readonly longMinutes: number;
}

/** Where episodes are kept and their records written. */
export interface EpisodeStore {
  /** The open episodes by fingerprint. */
  open(): Promise<Map<string, Episode>>;
  /** Opens an episode with its firing record; resolves whether this call opened it. */
  fire(fingerprint: string, episode: Episode, input: AlertInput): Promise<boolean>;
  /** Closes an episode with its resolved record; resolves whether this call closed it. */
  resolve(fingerprint: string, input: AlertInput): Promise<boolean>;
}

/** Receives records (the alert sink). */
export interface RecordEmitter {
  emit(input: AlertInput): void;
  /** Shows a record written past `emit()` to the sink's live listeners (the alert stream). */
  notify?(record: AlertRecord): void;
}

/** Episodes in memory, records through the alert sink. */
export class MemoryEpisodes implements EpisodeStore {
  readonly #open = new Map<string, Episode>();
  readonly #sink: RecordEmitter;

  constructor(sink: RecordEmitter) {
    this.#sink = sink;
  }

  async open(): Promise<Map<string, Episode>> {
    return new Map(this.#open);
  }

  async fire(fingerprint: string, episode: Episode, input: AlertInput): Promise<boolean> {
    if (this.#open.has(fingerprint)) return false;
    this.#open.set(fingerprint, episode);
    this.#sink.emit(input);
    return true;
  }

  async resolve(fingerprint: string, input: AlertInput): Promise<boolean> {
    if (!this.#open.delete(fingerprint)) return false;
    this.#sink.emit(input);
    return true;
  }
}

/**
 * KEYS[1] = lease, KEYS[2] = episodes hash, KEYS[3] = alert list. ARGV[1] = lease token,
 * ARGV[2] = fingerprint, ARGV[3] = episode JSON, ARGV[4] = record JSON, ARGV[5] = list length.
 */
const FIRE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[4])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
return 1
`;

/** As {@link FIRE}, closing instead (ARGV[3] unused). */
const RESOLVE = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('HDEL', KEYS[2], ARGV[2]) == 0 then return 0 end
redis.call('LPUSH', KEYS[3], ARGV[4])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)
return 1
`;

/** Options of {@link RedisEpisodes}. */
export interface RedisEpisodesOptions {
  readonly client: Promise<RedisClient>;
  /** Key prefix (`ALERT_KEY_PREFIX`). */
  readonly prefix: string;
  /** The alert list the records go to, prefix included. */
  readonly list: string;
  /** Length the list is trimmed to (`ALERT_LIST_MAX`). */
  readonly listMax: number;
  /** The lease key and this instance's token. */
  readonly lease: { readonly key: string; readonly token: string };
  /**
   * Called with each record the script wrote: the script bypasses the sink, whose live listeners
   * (the alert stream) would otherwise never see a burn-rate record. Default: none.
   */
  readonly notify?: (record: AlertRecord) => void;
}

/** Episodes in Redis (see the module comment). */
export class RedisEpisodes implements EpisodeStore {
  readonly #options: RedisEpisodesOptions;
  readonly #key: string;

  constructor(options: RedisEpisodesOptions) {
    this.#options = options;
    this.#key = `${options.prefix}${SLO_KEYS.episodes}`;
  }

  async open(): Promise<Map<string, Episode>> {
    const client = await this.#options.client;
    const hash = await untraced(() => client.hgetall(this.#key));
    const out = new Map<string, Episode>();
    for (const [fingerprint, text] of Object.entries(hash)) {
      const episode = parseEpisode(text);
      // Not ours (or from an older layout): left alone.
      if (episode) out.set(fingerprint, episode);
    }
    return out;
  }

  async fire(fingerprint: string, episode: Episode, input: AlertInput): Promise<boolean> {
    return this.#run(FIRE, fingerprint, JSON.stringify(episode), buildAlert(input));
  }

  async resolve(fingerprint: string, input: AlertInput): Promise<boolean> {
    return this.#run(RESOLVE, fingerprint, '', buildAlert(input));
  }

  async #run(script: string, fingerprint: string, episode: string, record: AlertRecord): Promise<boolean> {
    const client = await this.#options.client;
    const { lease, list, listMax } = this.#options;
    const done = await untraced(() =>
      client.eval(
        script,
        3,
        lease.key,
        this.#key,
        list,
        lease.token,
        fingerprint,
        episode,
        JSON.stringify(record),
        String(listMax),
      ),
    );
    if (done === 1) this.#options.notify?.(record);
    return done === 1;
  }
}

/** An episode from its JSON, or `undefined` when the text is not one. */
function parseEpisode(text: string): Episode | undefined {
  try {
    const e = JSON.parse(text) as Partial<Episode>;
    const strings = [e.id, e.field, e.service, e.operation, e.severity].every((v) => typeof v === 'string');
    if (strings && typeof e.startsAtMs === 'number' && typeof e.longMinutes === 'number') return e as Episode;
  } catch {
    // Not JSON.
  }
  return undefined;
}
