/**
 * The view in the page URL, so that a view can be shared: `service`, `operation`, `user_id` and
 * `hours` (the summary's own parameter names) and `op` (the operation whose charts are open).
 * Read once on load; written by the page (`main.ts`) with `history.replaceState` on every change
 * (no history entry per filter). Values that the API would refuse (a window it does not offer) fall
 * back to defaults. Pure: no DOM, so that it runs (and is tested) under Node as well.
 */

/** The windows offered, hours. */
export const HOURS: readonly number[] = [1, 6, 24, 72, 168, 720];
/** The summary's default window, hours. */
export const DEFAULT_HOURS = 24;
/** Longest text kept from a URL parameter (the API's own limit on names). */
const MAX_PARAMETER_LENGTH = 128;

/** What the page shows. `undefined`: no filter (the own service, every operation, every user). */
export interface View {
  readonly service: string | undefined;
  readonly operation: string | undefined;
  readonly user_id: string | undefined;
  readonly hours: number;
  /** The operation whose charts are open. */
  readonly op: string | undefined;
}

function text(params: URLSearchParams, name: string): string | undefined {
  const value = params.get(name)?.trim();
  return value ? value.slice(0, MAX_PARAMETER_LENGTH) : undefined;
}

/** The view a query string (`location.search`) describes. */
export function readView(search: string): View {
  const params = new URLSearchParams(search);
  const hours = Number(params.get('hours'));
  return {
    service: text(params, 'service'),
    operation: text(params, 'operation'),
    user_id: text(params, 'user_id'),
    hours: HOURS.includes(hours) ? hours : DEFAULT_HOURS,
    op: text(params, 'op'),
  };
}

/** The query string of a view (`?…`, or empty): only what differs from the defaults. */
export function searchOf(view: View): string {
  const params = new URLSearchParams();
  if (view.service !== undefined) params.set('service', view.service);
  if (view.operation !== undefined) params.set('operation', view.operation);
  if (view.user_id !== undefined) params.set('user_id', view.user_id);
  if (view.hours !== DEFAULT_HOURS) params.set('hours', String(view.hours));
  if (view.op !== undefined) params.set('op', view.op);
  const query = params.toString();
  return query ? `?${query}` : '';
}
