/**
 * The health checks of the OTLP receivers (`ingest:*`) and of forwarding (`forward:*`): what an
 * operator asks of a receiver: is it taking spans, is its queue filling, is it refusing or dropping
 * anything (metric data points it has no use for included). A count that grew within the last `recentMinutes` warns (a drop an hour ago is history,
 * not a present problem, as for `alerts:dropped`).
 */
import type { Ingest } from '../ingest/index.ts';
import { roundTo } from '../shared/numbers.ts';

/** One measurement, in the health response's form (see `health.ts`). */
export interface IngestCheck {
  readonly componentType: 'component';
  readonly observedValue: number;
  readonly observedUnit: string;
  readonly status: 'pass' | 'warn';
  readonly time: string;
  readonly output?: string;
}

/** A queue fuller than this share warns: requests are about to be refused. */
const QUEUE_WARN_SHARE = 0.8;

/**
 * Most characters of an upstream error shown in a check's output: the text comes from another
 * system (a Collector's answer), so health output carries a bounded excerpt of it, not all of it.
 */
export const MAX_ERROR_TEXT = 200;

/** `text` cut to {@link MAX_ERROR_TEXT} characters, an ellipsis marking the cut. */
function excerpt(text: string): string {
  return text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT - 1)}…` : text;
}

/** Tracks the ingest's counters between health checks. */
export class IngestHealth {
  readonly #ingest: Ingest;
  readonly #recentMs: number;
  #lastAt = 0;
  #lastReceived = 0;
  readonly #changed = new Map<string, { value: number; at: number }>();

  /** @param recentMinutes how long a grown refusal or drop count keeps its check at warn. */
  constructor(ingest: Ingest, recentMinutes: number) {
    this.#ingest = ingest;
    this.#recentMs = recentMinutes * 60_000;
  }

  /** The `ingest:*` and `forward:*` checks as of `now`. */
  checks(now: number, time: string): Record<string, IngestCheck[]> {
    const { receivers, dataPoints, forward } = this.#ingest.stats();
    const out: Record<string, IngestCheck[]> = {};
    // Spans per second since the previous check (0 on the first).
    const elapsed = (now - this.#lastAt) / 1000;
    const rate =
      this.#lastAt > 0 && elapsed > 0 ? (receivers.spans.received - this.#lastReceived) / elapsed : 0;
    this.#lastAt = now;
    this.#lastReceived = receivers.spans.received;
    out['ingest:spans'] = [check(roundTo(Math.max(rate, 0), 3), '{span}/s', 'pass', time)];

    const { queue } = receivers;
    const full =
      queue.spans > queue.maxSpans * QUEUE_WARN_SHARE || queue.bytes > queue.maxBytes * QUEUE_WARN_SHARE;
    out['ingest:queue'] = [
      check(
        queue.spans,
        '{span}',
        full ? 'warn' : 'pass',
        time,
        full
          ? `the evaluation queue is over ${QUEUE_WARN_SHARE * 100}% full; requests will be refused (429)`
          : undefined,
      ),
    ];
    out['ingest:rejected'] = [
      this.#recent(
        'rejected',
        receivers.spans.rejected,
        now,
        time,
        'spans were rejected recently (bad ids or times)',
      ),
    ];
    const refused =
      receivers.refused.queueFull +
      receivers.refused.busy +
      receivers.refused.tooLarge +
      receivers.refused.invalid;
    out['ingest:refused'] = [
      this.#recent(
        'refused',
        refused,
        now,
        time,
        'requests were refused recently (queue full, too many at once, too large or undecodable)',
        '{request}',
      ),
    ];
    // Metrics a service sends that the sidecar neither reads nor can pass on are expected (SDKs send
    // all their metrics): the count is shown, and passes, with what it is made of.
    const unused = dataPoints.dropped;
    const unusedTotal = unused.not_runtime + unused.not_read;
    out['ingest:droppedPoints'] = [
      check(
        unusedTotal,
        '{data_point}',
        'pass',
        time,
        unusedTotal > 0
          ? `metric data points neither read for runtime figures nor forwarded (no OTLP_FORWARD_ENDPOINT): ` +
              `${unused.not_runtime} of metrics the sidecar does not read, ${unused.not_read} it could not read`
          : undefined,
      ),
    ];
    if (forward) {
      const dropped =
        Object.values(forward.spansDropped).reduce((a, b) => a + b, 0) +
        Object.values(forward.dataPointsDropped).reduce((a, b) => a + b, 0);
      out['forward:queue'] = [check(forward.queued, '{item}', 'pass', time)];
      out['forward:dropped'] = [
        this.#recent(
          'dropped',
          dropped,
          now,
          time,
          `items were dropped recently instead of forwarded${forward.lastError ? ` (last error: ${excerpt(forward.lastError.message)})` : ''}`,
          '{item}',
        ),
      ];
    }
    return out;
  }

  #recent(key: string, value: number, now: number, time: string, why: string, unit = '{span}'): IngestCheck {
    const known = this.#changed.get(key);
    // A count first seen above zero grew since the receivers started: that counts as recent too.
    if (!known || known.value !== value) this.#changed.set(key, { value, at: known || value > 0 ? now : 0 });
    const at = this.#changed.get(key)?.at ?? 0;
    const recent = value > 0 && at > 0 && now - at < this.#recentMs;
    return check(value, unit, recent ? 'warn' : 'pass', time, recent ? why : undefined);
  }
}

function check(
  value: number,
  unit: string,
  status: 'pass' | 'warn',
  time: string,
  output?: string,
): IngestCheck {
  return {
    componentType: 'component',
    observedValue: value,
    observedUnit: unit,
    status,
    time,
    ...(output ? { output } : {}),
  };
}
