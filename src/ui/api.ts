/**
 * The sidecar's JSON API as the page uses it: the response shapes it reads (a subset of what the
 * endpoints document in docs/endpoints.md), and one `getJson` that sends the tab's bearer token,
 * bounds every request in time, and turns answers into errors that say what went wrong.
 */
import { storedToken } from './token.ts';

/** Longest wait for one API answer, ms: a hung request must not hold the refresh loop forever. */
export const REQUEST_TIMEOUT_MS = 20_000;

/** The error budget of an operation (`slo` in the summary). */
export interface BudgetFigures {
  readonly objective: number;
  readonly period_days: number;
  readonly budget_remaining: number;
  readonly budget_remaining_runs: number;
  readonly good_share: number | null;
}

/** One operation of the summary. Durations in seconds. */
export interface OperationFigures {
  readonly count: number;
  readonly errors: number;
  readonly p50_s: number | null;
  readonly p95_s: number | null;
  readonly p99_s: number | null;
  readonly max_s: number | null;
  readonly target_s: number | null;
  readonly breaches: number;
  readonly breach_rate: number;
  readonly apdex: number | null;
  readonly slo?: BudgetFigures;
}

/** One service in the summary's list. */
export interface ServiceFigures {
  readonly own: boolean;
  readonly operations: number;
  readonly runs: number;
}

/** The latest resource figures of the summary. */
export interface SystemFigures {
  readonly rss_mb: number | null;
  readonly heap_mb: number | null;
  readonly cpu_percent: number | null;
  readonly event_loop_delay_p99_ms: number | null;
  readonly event_loop_utilization: number | null;
}

/** `GET /api/system/performance`. */
export interface Summary {
  readonly window: {
    readonly hours: number;
    readonly from: string;
    readonly to: string;
    readonly data_from: string | null;
    readonly source: 'redis' | 'memory';
  };
  readonly service: string;
  readonly filter: { readonly operation: string | null; readonly user_id: string | null };
  readonly operations: Readonly<Record<string, OperationFigures>>;
  readonly system: SystemFigures;
  readonly services: Readonly<Record<string, ServiceFigures>>;
  readonly warnings: readonly string[];
}

/** One point of `GET /api/system/performance/series`. */
export interface SeriesPoint {
  readonly t: string;
  readonly count: number;
  readonly errors: number;
  readonly breaches: number;
  readonly p95_s: number | null;
  readonly p99_s: number | null;
}

/** `GET /api/system/performance/series`. */
export interface OperationSeries {
  readonly operation: string;
  readonly service: string;
  readonly step_minutes: number;
  readonly from: string;
  readonly to: string;
  readonly target_s: number | null;
  readonly points: readonly SeriesPoint[];
}

/** One minute of `GET /api/system/resources/series`. */
export interface ResourcePoint {
  readonly t: string;
  readonly rss_mb: number | null;
  readonly heap_mb: number | null;
  readonly cpu_percent: number | null;
  readonly event_loop_delay_p99_ms: number | null;
  /** 0 to 1. */
  readonly event_loop_utilization: number | null;
  readonly cache: {
    readonly memory_hit_rate: number | null;
    readonly redis_hit_rate: number | null;
    readonly lookups: number;
  } | null;
  readonly db_pool: { readonly used: number; readonly idle: number; readonly waiting: number } | null;
}

/** `GET /api/system/resources/series`. */
export interface ResourceSeries {
  readonly service: string;
  readonly hours: number;
  readonly from: string;
  readonly to: string;
  readonly thresholds: { readonly memory_mb: number; readonly cpu_percent: number };
  readonly points: readonly ResourcePoint[];
}

/** `GET /api/system/dashboard`. */
export interface DashboardConfig {
  readonly service: string;
  readonly jaeger_url: string | null;
  readonly thresholds: { readonly memory_mb: number; readonly cpu_percent: number };
  readonly auth: boolean;
  readonly version: string;
}

/** An `alert.v1` record, as the stream sends it. */
export interface AlertRecord {
  readonly id: string;
  readonly type: string;
  readonly severity: string;
  readonly status: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: { readonly summary: string; readonly [name: string]: string };
  readonly value: number;
  readonly threshold: number;
  readonly unit: string;
  readonly startsAt: string;
  readonly lastSeenAt: string;
  readonly endsAt?: string;
  readonly trace?: { readonly trace_id: string; readonly span_id: string; readonly sampled: boolean };
  readonly repeats: number;
}

/** The API answered 401: the tab has no token, or `sentToken` was refused. */
export class UnauthorizedError extends Error {
  /** Whether a token was sent (and so refused). */
  readonly sentToken: boolean;

  constructor(path: string, sentToken: boolean) {
    super(
      sentToken
        ? `${path}: the API refused the token`
        : `${path}: the API needs a token (Authorization: Bearer <PERF_API_TOKEN>)`,
    );
    this.name = 'UnauthorizedError';
    this.sentToken = sentToken;
  }
}

/** Any other answer than 200: the status and the API's own `error` and `detail`. */
export class ApiError extends Error {
  /** HTTP status; 0 when no answer arrived. */
  readonly status: number;
  /** The API's `error` code (`invalid_query`, ...), or `network` / `timeout`. */
  readonly code: string;

  constructor(path: string, status: number, code: string, detail: string) {
    super(status > 0 ? `${path} answered ${status} ${code}: ${detail}` : `${path}: ${detail}`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** Called on every 401, before the error is thrown (the page shows the token form). */
let unauthorizedHandler: (error: UnauthorizedError) => void = () => undefined;

/** Sets what happens on a 401. */
export function onUnauthorized(handler: (error: UnauthorizedError) => void): void {
  unauthorizedHandler = handler;
}

/** The request headers of every API call: the bearer token when the tab has one. */
export function apiHeaders(accept = 'application/json'): Record<string, string> {
  const token = storedToken();
  return token === undefined ? { accept } : { accept, authorization: `Bearer ${token}` };
}

/** `path?query` with the parameters that have a value. */
export function urlOf(
  path: string,
  query: Readonly<Record<string, string | number | undefined>> = {},
): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(name, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

/** The checks of a response that every API call shares: 401 to the token form, others to {@link ApiError}. */
export async function checkResponse(path: string, response: Response, sentToken: boolean): Promise<void> {
  if (response.status === 401) {
    // Read the body, so that the connection is free for the next request.
    await response.text().catch(() => '');
    const error = new UnauthorizedError(path, sentToken);
    unauthorizedHandler(error);
    throw error;
  }
  if (response.ok) return;
  let code = 'http_error';
  let detail = response.statusText || 'no detail';
  try {
    const body = (await response.json()) as { error?: unknown; detail?: unknown };
    if (typeof body.error === 'string') code = body.error;
    if (typeof body.detail === 'string') detail = body.detail;
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  throw new ApiError(path, response.status, code, detail);
}

/**
 * GETs `path` with `query` and parses the JSON answer.
 *
 * @throws {UnauthorizedError} on 401 (after the handler set with {@link onUnauthorized} ran).
 * @throws {ApiError} on any other status, no answer, or no answer within {@link REQUEST_TIMEOUT_MS}.
 */
export async function getJson<T>(
  path: string,
  query: Readonly<Record<string, string | number | undefined>> = {},
): Promise<T> {
  const headers = apiHeaders();
  let response: Response;
  try {
    response = await fetch(urlOf(path, query), {
      headers,
      cache: 'no-store',
      credentials: 'same-origin',
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
    throw new ApiError(
      path,
      0,
      timedOut ? 'timeout' : 'network',
      timedOut
        ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
        : 'the sidecar did not answer (is it running?)',
    );
  }
  await checkResponse(path, response, headers.authorization !== undefined);
  return (await response.json()) as T;
}
