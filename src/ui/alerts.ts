/**
 * The live alert feed (`#alerts`): `GET /api/system/alerts/stream?recent=50` read with `fetch()`
 * (an `EventSource` cannot send the bearer header) and parsed with eventsource-parser. Each `alert`
 * event carries one `alert.v1` record; a record whose id is already shown replaces it (a folded
 * repeat, a resolved episode). Newest first, at most {@link MAX_SHOWN_ALERTS} items, in the order
 * {@link AlertOrder} keeps. A dropped
 * connection is retried with capped exponential backoff; a 401 stops the feed until a token is
 * entered. Each item has `data-alert-type`, `data-operation` and `data-alert-id` for tests.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { AlertOrder, MAX_SHOWN_ALERTS } from './alert-order.ts';
import { type AlertRecord, apiHeaders, checkResponse, UnauthorizedError, urlOf } from './api.ts';
import { byId, h, replaceChildren, timeElement } from './dom.ts';
import { formatInUnit } from './format.ts';
import { sleep } from './wait.ts';

/** The stream's path. */
export const ALERT_STREAM_PATH = '/api/system/alerts/stream';
/** Records the stream sends on connect (the newest of the alert lists). */
export const RECENT_ALERTS = 50;
/** First wait before reconnecting, ms; doubles per failure up to {@link MAX_RETRY_MS}. */
export const FIRST_RETRY_MS = 1000;
/** Longest wait before reconnecting, ms. */
export const MAX_RETRY_MS = 30_000;
/** A connection open this long counts as healthy: the next failure starts the backoff again. */
const STABLE_MS = 10_000;

/** Words for the alert types. */
const TYPE_NAMES: Readonly<Record<string, string>> = {
  target_exceeded: 'Target exceeded',
  slow_request: 'Slow request',
  slow_query: 'Slow query',
  high_memory: 'High memory',
  high_cpu: 'High CPU',
  slo_burn_rate: 'Error budget burn',
};

/** What the status line says, per connection state. */
type ConnectionState = 'idle' | 'connecting' | 'live' | 'retrying' | 'token';

/** Whether `value` looks like an `alert.v1` record (the fields the feed reads). */
function isAlertRecord(value: unknown): value is AlertRecord {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return (
    typeof r.id === 'string' &&
    typeof r.type === 'string' &&
    typeof r.value === 'number' &&
    typeof r.threshold === 'number' &&
    typeof r.unit === 'string' &&
    typeof r.lastSeenAt === 'string' &&
    typeof r.labels === 'object' &&
    r.labels !== null &&
    typeof r.annotations === 'object' &&
    r.annotations !== null
  );
}

/** Where an alert happened: the operation, else `METHOD route`, else the route. */
function whereOf(record: AlertRecord): string {
  const { operation, method, route } = record.labels;
  if (operation !== undefined) return operation;
  if (route !== undefined) return method !== undefined ? `${method} ${route}` : route;
  return '';
}

/** See the module comment. */
export class AlertFeed {
  readonly #list = byId('alerts', HTMLOListElement);
  readonly #empty = byId('alerts-empty', HTMLElement);
  readonly #status = byId('alerts-status', HTMLElement);
  /** The items shown, by record id, in the order of {@link AlertOrder}. */
  readonly #shown = new Map<string, HTMLLIElement>();
  readonly #order = new AlertOrder(MAX_SHOWN_ALERTS);
  #jaegerUrl: string | undefined;
  #controller: AbortController | undefined;

  /** Sets the Jaeger UI the trace links go to (`null`: no links). Only http(s) URLs are used. */
  setJaegerUrl(url: string | null): void {
    this.#jaegerUrl = undefined;
    if (url === null) return;
    try {
      const parsed = new URL(url);
      if (parsed.protocol === 'http:' || parsed.protocol === 'https:')
        this.#jaegerUrl = url.replace(/\/+$/, '');
    } catch {
      // Not a URL: no links rather than broken ones.
    }
  }

  /** Connects (once; a running feed is left as it is). */
  start(): void {
    if (this.#controller) return;
    const controller = new AbortController();
    this.#controller = controller;
    void this.#run(controller.signal).finally(() => {
      if (this.#controller === controller) this.#controller = undefined;
    });
  }

  /** Disconnects. */
  stop(): void {
    this.#controller?.abort();
    this.#controller = undefined;
    this.#setState('idle', 'Not connected');
  }

  async #run(signal: AbortSignal): Promise<void> {
    let delay = FIRST_RETRY_MS;
    while (!signal.aborted) {
      const opened = Date.now();
      let retryAfterMs = 0;
      this.#setState('connecting', 'Connecting…');
      try {
        await this.#read(signal);
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof UnauthorizedError) {
          this.#setState('token', 'Waiting for the API token');
          return;
        }
        if (error instanceof RetryLater) retryAfterMs = error.ms;
      }
      if (signal.aborted) return;
      if (Date.now() - opened >= STABLE_MS) delay = FIRST_RETRY_MS;
      // Jittered, so that many open pages do not reconnect in step after a restart.
      const wait = Math.max(retryAfterMs, delay * (0.8 + Math.random() * 0.4));
      this.#setState('retrying', `Disconnected; retrying in ${Math.ceil(wait / 1000)} s`);
      await sleep(wait, signal);
      delay = Math.min(delay * 2, MAX_RETRY_MS);
    }
  }

  /** One connection: resolves when the server ends the stream, throws when it cannot be read. */
  async #read(signal: AbortSignal): Promise<void> {
    const headers = apiHeaders('text/event-stream');
    const response = await fetch(urlOf(ALERT_STREAM_PATH, { recent: RECENT_ALERTS }), {
      headers,
      cache: 'no-store',
      credentials: 'same-origin',
      signal,
    });
    if (response.status === 503) {
      const seconds = Number(response.headers.get('retry-after'));
      await response.body?.cancel();
      throw new RetryLater(Number.isFinite(seconds) ? Math.min(seconds * 1000, MAX_RETRY_MS) : 0);
    }
    await checkResponse(ALERT_STREAM_PATH, response, headers.authorization !== undefined);
    if (!response.body) throw new Error('the alert stream has no body');
    this.#setState('live', 'Live');
    const parser = createParser({ onEvent: (event) => this.#onEvent(event) });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        parser.feed(value);
      }
    } finally {
      reader.releaseLock();
    }
  }

  #onEvent(event: EventSourceMessage): void {
    if (event.event !== 'alert') return;
    let record: unknown;
    try {
      record = JSON.parse(event.data);
    } catch {
      return;
    }
    if (isAlertRecord(record)) this.show(record);
  }

  /** Shows `record`, replacing the shown record with the same id. */
  show(record: AlertRecord): void {
    const placed = this.#order.place(record.id, Date.parse(record.lastSeenAt));
    // Removed first, so that the list's items above the new position are the order's.
    for (const id of placed.replaced ? [record.id, ...placed.dropped] : placed.dropped) {
      this.#shown.get(id)?.remove();
      this.#shown.delete(id);
    }
    if (placed.index !== undefined) {
      const item = this.#item(record);
      this.#list.insertBefore(item, this.#list.children[placed.index] ?? null);
      this.#shown.set(record.id, item);
    }
    this.#empty.hidden = this.#list.children.length > 0;
  }

  #item(record: AlertRecord): HTMLLIElement {
    const where = whereOf(record);
    const service = record.labels.service ?? '';
    const resolved = record.status === 'resolved';
    const against = record.type === 'target_exceeded' ? 'against the target of' : 'against the threshold of';
    const repeats = record.repeats > 1 ? ` · ${record.repeats} times` : '';
    const traceId = record.trace?.trace_id;
    const link =
      this.#jaegerUrl !== undefined && traceId !== undefined && /^[0-9a-f]{32}$/.test(traceId)
        ? h(
            'a',
            {
              href: `${this.#jaegerUrl}/trace/${traceId}`,
              target: '_blank',
              rel: 'noopener noreferrer',
              class: 'alert-trace',
            },
            'trace',
          )
        : null;
    return h(
      'li',
      {
        class: `alert ${record.severity}${resolved ? ' resolved' : ''}`,
        'data-alert-id': record.id,
        'data-alert-type': record.type,
        'data-operation': where,
        'data-severity': record.severity,
      },
      h(
        'div',
        { class: 'alert-head' },
        h('span', { class: 'alert-type' }, TYPE_NAMES[record.type] ?? record.type),
        h('span', { class: 'alert-severity' }, resolved ? `${record.severity}, resolved` : record.severity),
        timeElement(record.lastSeenAt, 'alert-time'),
      ),
      h('div', { class: 'alert-where' }, where ? `${service} / ${where}` : service),
      h(
        'div',
        { class: 'alert-value' },
        h('strong', {}, formatInUnit(record.value, record.unit)),
        ` ${against} ${formatInUnit(record.threshold, record.unit)}${repeats}`,
        link ? ' · ' : null,
        link,
      ),
      h('p', { class: 'alert-summary' }, record.annotations.summary),
    );
  }

  #setState(state: ConnectionState, text: string): void {
    this.#status.dataset.state = state;
    replaceChildren(this.#status, text);
  }
}

/** The stream was refused for now (503): retry after `ms` at the earliest. */
class RetryLater extends Error {
  readonly ms: number;

  constructor(ms: number) {
    super('the alert stream is refused for now');
    this.ms = ms;
  }
}
