/**
 * `GET /api/system/alerts/stream`: alert records as server-sent events, as they are raised, for
 * dashboards and programs that would otherwise poll `/api/system/alerts`.
 *
 * The events come from the alert sink's live listeners ({@link AlertSink.subscribe}), so a stream
 * shows the alerts raised by this process: the sidecar receiving OTLP raises them for every service
 * it watches, and the burn-rate records its evaluator writes through Redis are handed to the sink
 * too. Records other processes push to the shared lists are not streamed (read them with
 * `/api/system/alerts` or `consumeAlerts`).
 *
 * The body is a pull-based `ReadableStream` of our own rather than `hono/streaming`'s `streamSSE`:
 * the server pulls a chunk only when the socket has drained, so the frames waiting for a slow
 * client sit in one array we can count, and a client that stops reading can be dropped (its
 * socket destroyed) instead of holding a subscription and an ever-growing queue.
 */
import type { Context, Hono } from 'hono';
import {
  ALERT_TYPES,
  AlertListenersFullError,
  type AlertRecord,
  type AlertSink,
  type AlertType,
} from '../alerts/index.ts';
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import type { Telemetry } from '../telemetry/index.ts';

/** Path of the alert stream. */
export const ALERT_STREAM_PATH = '/api/system/alerts/stream';
/** Most streams one app serves at once; past it a connection gets 503 with `Retry-After`. */
export const MAX_ALERT_STREAMS = 100;
/** Largest `recent` (records sent on connect, from the alert lists). */
export const MAX_ALERT_STREAM_RECENT = 100;
/** Records waiting for a client that is not reading, past which its stream is dropped. */
export const ALERT_STREAM_BACKLOG = 1000;
/** Time between keep-alive comments, ms: under the idle timeouts of common proxies (30-60 s). */
export const ALERT_STREAM_HEARTBEAT_MS = 15_000;
/** `Retry-After` of a refused stream, seconds. */
export const ALERT_STREAM_RETRY_AFTER_SECONDS = 5;

/**
 * The query checks of `app.ts`, handed in so that the stream answers a bad query exactly as
 * `/api/system/alerts` does (400 `{ error: 'invalid_query', detail }` from the app's error handler).
 */
export interface AlertStreamQueryChecks {
  /** Throws the 400 for an unknown or repeated parameter. */
  readonly onlyKnown: (query: Record<string, string[]>, known: readonly string[]) => void;
  /** Parses a whole number in `[min, max]`, throwing the 400 otherwise; `undefined` when absent. */
  readonly wholeNumber: (
    name: string,
    text: string | undefined,
    min: number,
    max: number,
  ) => number | undefined;
  /** The error the app's error handler turns into the 400, with `detail`. */
  readonly badQuery: (detail: string) => Error;
}

/** An app's open streams, so that a shutdown can end them. */
interface OpenStreams {
  readonly all: Set<AlertStream>;
  closing: boolean;
}

const streamsOf = new WeakMap<Hono, OpenStreams>();
const encoder = new TextEncoder();

/** One client's stream: frames waiting for it, the subscription, the keep-alive timer. */
class AlertStream {
  readonly body: ReadableStream<Uint8Array>;
  #frames: string[] = [];
  #queuedRecords = 0;
  /** Resolves the pull waiting for a frame; set while the client waits for data. */
  #wake: (() => void) | undefined;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  #ended = false;
  #unsubscribe: (() => void) | undefined;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #open: OpenStreams;
  readonly #destroy: (() => void) | undefined;

  constructor(open: OpenStreams, destroy: (() => void) | undefined) {
    this.#open = open;
    this.#destroy = destroy;
    open.all.add(this);
    this.#frames.push(': connected\n\n');
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: () => this.#pull(),
        // The client went away (the server cancels the body when the socket closes).
        cancel: () => this.#release(),
      },
      // No read-ahead: a chunk is made only when the server asks, so waiting frames stay countable.
      { highWaterMark: 0 },
    );
    this.#heartbeat = setInterval(() => {
      if (this.#frames.length === 0) this.#push(': keep-alive\n\n', false);
    }, ALERT_STREAM_HEARTBEAT_MS);
    this.#heartbeat.unref();
  }

  /** Subscribes to `sink` (records of `type` only, when given). */
  subscribe(sink: AlertSink, type: AlertType | undefined): void {
    this.#unsubscribe = sink.subscribe((record) => {
      if (type === undefined || record.type === type) this.#push(frameOf(record), true);
    });
  }

  /** Puts `records` (oldest first) ahead of everything queued so far, after the opening comment. */
  prepend(records: readonly AlertRecord[]): void {
    const [opening = '', ...live] = this.#frames;
    this.#frames = [opening, ...records.map(frameOf), ...live];
    this.#queuedRecords += records.length;
  }

  #push(frame: string, record: boolean): void {
    if (this.#ended) return;
    if (record) this.#queuedRecords++;
    // Over the backlog while the client is not asking for data: it is not reading. A burst into a
    // waiting client is let through up to ten times that, since its pull only runs after the burst.
    const limit = this.#wake === undefined ? ALERT_STREAM_BACKLOG : ALERT_STREAM_BACKLOG * 10;
    if (this.#queuedRecords > limit) {
      getLogger().warn({ queued: this.#queuedRecords }, 'alert stream client is not reading; dropping it');
      this.end(true);
      return;
    }
    this.#frames.push(frame);
    this.#wake?.();
  }

  async #pull(): Promise<void> {
    while (this.#frames.length === 0 && !this.#ended) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
    this.#wake = undefined;
    if (this.#ended) return;
    const text = this.#frames.join('');
    this.#frames = [];
    this.#queuedRecords = 0;
    this.#controller?.enqueue(encoder.encode(text));
  }

  /**
   * Ends the stream. `drop`: the client is not reading, so its frames are discarded and its socket
   * destroyed (an orderly end would wait for it to read). Otherwise what is queued is sent first.
   */
  end(drop = false): void {
    if (this.#ended) return;
    const rest = drop ? '' : this.#frames.join('');
    this.#release();
    try {
      if (rest) this.#controller?.enqueue(encoder.encode(rest));
      this.#controller?.close();
    } catch {
      // Already cancelled by the server: nothing left to end.
    }
    if (drop) this.#destroy?.();
  }

  /** Gives back the subscription, the timer and the slot; idempotent. */
  #release(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#frames = [];
    this.#unsubscribe?.();
    clearInterval(this.#heartbeat);
    this.#open.all.delete(this);
    this.#wake?.();
  }
}

/** One record as one event; `id` lets a client key records (a folded repeat comes again, same id). */
function frameOf(record: AlertRecord): string {
  // JSON.stringify escapes line breaks, so the data is one line; the id is guarded all the same.
  return `event: alert\nid: ${String(record.id).replace(/[\r\n]/g, '')}\ndata: ${JSON.stringify(record)}\n\n`;
}

function refused(c: Context, error: string, detail: string): Response {
  c.header('Retry-After', String(ALERT_STREAM_RETRY_AFTER_SECONDS));
  return c.json({ error, detail }, 503);
}

/**
 * Registers `GET /api/system/alerts/stream?type=&recent=` on `app` (under `/api/system/*`, so the
 * API token applies): `text/event-stream`, one `event: alert` per record created or updated by
 * this process (`id:` the record id, `data:` its JSON), a keep-alive comment every 15 s, and first
 * the `recent` newest records of the alert lists (default 0, at most 100), oldest first. Bounded:
 * {@link MAX_ALERT_STREAMS} streams (503 with `Retry-After` past it), and a client that leaves
 * {@link ALERT_STREAM_BACKLOG} records unread is dropped. {@link endAlertStreams} ends them all.
 */
export function addAlertStream(app: Hono, telemetry: Telemetry, checks: AlertStreamQueryChecks): void {
  const open: OpenStreams = { all: new Set(), closing: false };
  streamsOf.set(app, open);
  app.get(ALERT_STREAM_PATH, async (c) => {
    checks.onlyKnown(c.req.queries(), ['type', 'recent']);
    const type = c.req.query('type');
    if (type !== undefined && !(ALERT_TYPES as readonly string[]).includes(type)) {
      throw checks.badQuery(
        `type: ${JSON.stringify(type.slice(0, 64))} is not an alert type; expected one of ${ALERT_TYPES.join(', ')}`,
      );
    }
    const recent = checks.wholeNumber('recent', c.req.query('recent'), 0, MAX_ALERT_STREAM_RECENT) ?? 0;
    if (open.closing) return refused(c, 'shutting_down', 'the server is shutting down');
    if (open.all.size >= MAX_ALERT_STREAMS) {
      return refused(c, 'too_many_streams', `${MAX_ALERT_STREAMS} alert streams are open; try again later`);
    }
    // On @hono/node-server the raw response: destroying it is how a client that does not read is
    // dropped (elsewhere the stream just ends).
    const outgoing = (c.env as { outgoing?: { destroy?: () => void } } | undefined)?.outgoing;
    const stream = new AlertStream(open, outgoing?.destroy ? () => outgoing.destroy?.() : undefined);
    try {
      // Subscribed before the lists are read, so that nothing raised meanwhile is missed.
      stream.subscribe(telemetry.alerts, type as AlertType | undefined);
    } catch (error) {
      stream.end();
      if (!(error instanceof AlertListenersFullError)) throw error;
      return refused(c, 'too_many_streams', error.message);
    }
    if (recent > 0) {
      try {
        const records = await telemetry.alerts.recent({
          limit: recent,
          ...(type ? { type: type as AlertType } : {}),
        });
        stream.prepend(records.reverse());
      } catch (error) {
        stream.end();
        getLogger().warn({ err: errorText(error) }, 'could not read alert lists');
        return refused(c, 'alerts_unavailable', 'the alert lists could not be read (is Redis reachable?)');
      }
    }
    // The server cancels the body when the socket closes; the signal covers a client gone before.
    const signal = c.req.raw.signal;
    if (signal.aborted) stream.end();
    else signal.addEventListener('abort', () => stream.end(), { once: true });
    return c.body(stream.body, 200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      // nginx buffers proxied responses by default, which would hold events back.
      'x-accel-buffering': 'no',
    });
  });
}

/**
 * Ends every open alert stream of `app` (what is queued is sent first) and refuses new ones: the
 * server's graceful close calls it so that streams do not hold the shutdown until its deadline.
 */
export function endAlertStreams(app: Hono): void {
  const open = streamsOf.get(app);
  if (!open) return;
  open.closing = true;
  for (const stream of [...open.all]) stream.end();
}
