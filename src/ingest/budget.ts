/**
 * The receivers' budget of request bodies in memory: every body being read (OTLP/HTTP) or received
 * (OTLP/gRPC), traces and metrics alike, reserves its bytes here before the first of them is read,
 * and gives them back once its request is answered or cut off. The body limit bounds one request;
 * this bounds them all together, so a flood of concurrent requests is refused at once (429,
 * RESOURCE_EXHAUSTED with RetryInfo) instead of being buffered.
 */

/** Gives a reservation back; calling it again does nothing. */
export type Release = () => void;

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

  /** Reserves `bytes`: the release, or `undefined` (nothing reserved) when they do not fit now. */
  reserve(bytes: number): Release | undefined {
    if (this.#bytes + bytes > this.#maxBytes) return undefined;
    this.#bytes += bytes;
    this.#requests++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#bytes -= bytes;
      this.#requests--;
    };
  }

  /** The budget's figures. */
  stats(): InflightStats {
    return { bytes: this.#bytes, maxBytes: this.#maxBytes, requests: this.#requests };
  }
}
