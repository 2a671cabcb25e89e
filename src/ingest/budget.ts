/**
 * The receivers' budget of request bodies in memory: every body being read (OTLP/HTTP) or received
 * (OTLP/gRPC), traces and metrics alike, holds a reservation here from before the first of its
 * bytes is read until its request is answered or cut off. A reservation starts at what the body is
 * known to take (its `Content-Length`, or a small first step) and grows as its bytes arrive, so a
 * small compressed body holds little: reserving the body limit up front would let only a few
 * requests in at once, however small they are. The body limit bounds one request; this bounds them
 * all together, so a flood of concurrent requests is refused at once (429, RESOURCE_EXHAUSTED with
 * RetryInfo) instead of being buffered.
 */

/**
 * Step a reservation starts at when a body's size is not known (gzip, chunked, every gRPC call) and
 * grows by: small enough that many small requests fit at once, large enough that a big body grows
 * its reservation only every few reads.
 */
export const RESERVATION_STEP_BYTES = 64 * 1024;

/** Gives a reservation back; calling it again does nothing. */
export type Release = () => void;

/** Bytes one request holds from the budget; see the module comment. */
export interface Reservation {
  /** Bytes held now (0 once released). */
  readonly bytes: number;
  /**
   * Grows the reservation to `bytes` in all (a smaller figure keeps what is held): `false`, with
   * nothing changed, when the budget has no room for the difference now, or when it was released.
   */
  growTo(bytes: number): boolean;
  /** Gives the reservation back; calling it again does nothing. */
  readonly release: Release;
}

/** The budget's figures, for health and metrics. */
export interface InflightStats {
  /** Bytes reserved by requests being read or handled now. */
  readonly bytes: number;
  /** The budget. */
  readonly maxBytes: number;
  /** Requests holding a reservation now. */
  readonly requests: number;
}

/** See the module comment. */
export class InflightBudget {
  readonly #maxBytes: number;
  #bytes = 0;
  #requests = 0;

  /** @param maxBytes the budget; at least the largest reservation, so an idle budget takes any request. */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** Reserves `bytes`: the reservation, or `undefined` (nothing reserved) when they do not fit now. */
  reserve(bytes: number): Reservation | undefined {
    if (this.#bytes + bytes > this.#maxBytes) return undefined;
    this.#bytes += bytes;
    this.#requests++;
    let held = bytes;
    let released = false;
    return {
      get bytes() {
        return held;
      },
      growTo: (total: number): boolean => {
        if (released) return false;
        if (total <= held) return true;
        if (this.#bytes + (total - held) > this.#maxBytes) return false;
        this.#bytes += total - held;
        held = total;
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        this.#bytes -= held;
        held = 0;
        this.#requests--;
      },
    };
  }

  /** The budget's figures. */
  stats(): InflightStats {
    return { bytes: this.#bytes, maxBytes: this.#maxBytes, requests: this.#requests };
  }
}
