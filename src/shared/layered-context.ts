/**
 * An OpenTelemetry context that takes several values for the price of one: the values set while it
 * is being built go into one map over the parent, instead of one copied context per value.
 *
 * Why: the API's own context copies its whole map, and makes three closures, for every value set;
 * the middleware's request context gets three (the server span, its RPC metadata, the correlation
 * id), so two of the three copies were thrown away at once on every request. Once built, the
 * context is as immutable as the API's: a value set then gives a new context.
 */
import type { Context } from '@opentelemetry/api';

/** See the module comment. */
class LayeredContext implements Context {
  readonly #parent: Context;
  /** Values over the parent's; `undefined` for a deleted key. */
  readonly #values: Map<symbol, unknown>;
  /** While true, `setValue` and `deleteValue` change this context instead of making another. */
  building = true;

  constructor(parent: Context, values: Map<symbol, unknown>) {
    this.#parent = parent;
    this.#values = values;
  }

  getValue(key: symbol): unknown {
    const value = this.#values.get(key);
    return value !== undefined || this.#values.has(key) ? value : this.#parent.getValue(key);
  }

  setValue(key: symbol, value: unknown): Context {
    const target = this.building ? this : this.#copy();
    target.#values.set(key, value);
    return target;
  }

  deleteValue(key: symbol): Context {
    const target = this.building ? this : this.#copy();
    target.#values.set(key, undefined);
    return target;
  }

  #copy(): LayeredContext {
    const copy = new LayeredContext(this.#parent, new Map(this.#values));
    copy.building = false;
    return copy;
  }
}

/**
 * The context `build` makes of `parent` (for example `trace.setSpan(draft, span)`, then more values
 * on what that returns), its values all set in one layer over `parent`.
 */
export function layeredContext(parent: Context, build: (draft: Context) => Context): Context {
  const draft = new LayeredContext(parent, new Map());
  try {
    return build(draft);
  } finally {
    draft.building = false;
  }
}
