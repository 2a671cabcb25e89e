/**
 * Live listeners of the alert sink ({@link AlertSink.subscribe}): a bounded set of callbacks that
 * see each record as this process raises it, for the alert stream endpoint and for programs.
 */
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import type { AlertRecord } from './schema.ts';

/** Most listeners one sink accepts at once: each costs work on every alert raised. */
export const MAX_ALERT_LISTENERS = 100;

/** Receives a record; it must not keep the object past the call (copy it if needed). */
export type AlertListener = (record: AlertRecord) => void;

/** Thrown by {@link AlertListeners.add} when {@link MAX_ALERT_LISTENERS} are already subscribed. */
export class AlertListenersFullError extends Error {
  constructor() {
    super(`the alert sink already has ${MAX_ALERT_LISTENERS} listeners; unsubscribe one first`);
    this.name = 'AlertListenersFullError';
  }
}

/** The sink's listeners (see the module comment). */
export class AlertListeners {
  readonly #listeners = new Set<AlertListener>();

  /** Listeners subscribed now. */
  get size(): number {
    return this.#listeners.size;
  }

  /**
   * Adds `listener`; returns the function that removes it (calling it again does nothing).
   *
   * @throws {AlertListenersFullError} past {@link MAX_ALERT_LISTENERS}.
   */
  add(listener: AlertListener): () => void {
    if (this.#listeners.size >= MAX_ALERT_LISTENERS) throw new AlertListenersFullError();
    // A wrapper of its own, so that one function subscribed twice is two subscriptions.
    const entry: AlertListener = (record) => listener(record);
    this.#listeners.add(entry);
    return () => {
      this.#listeners.delete(entry);
    };
  }

  /**
   * Calls every listener with a copy of `record` (the sink updates its records in place), its
   * `lastSeenAt` set from `lastSeenMs` when given (a folded repeat: the sink sets that field only
   * when it writes). A listener that throws is logged, never rethrown.
   */
  notify(record: AlertRecord, lastSeenMs?: number): void {
    // Nothing is copied on the emit path while nobody listens.
    if (this.#listeners.size === 0) return;
    const copy =
      lastSeenMs === undefined
        ? { ...record }
        : { ...record, lastSeenAt: new Date(lastSeenMs).toISOString() };
    for (const listener of this.#listeners) {
      try {
        listener(copy);
      } catch (error) {
        getLogger().warn({ err: errorText(error) }, 'alert listener failed');
      }
    }
  }
}
