/**
 * What the middleware knows of a request's route, worked out once per (matched route, method) and
 * reused: the template, the span and operation name, the configured target, the metric attribute
 * sets. Hono matches before the first middleware runs, so all of it is known before `next()`.
 */
import type { Context } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { ValueRecorder } from '../../telemetry/internal.ts';

/** Most routes whose facts are kept; a larger app works the rest out per request. */
export const MAX_CACHED_ROUTES = 1000;

/** Most methods whose facts are kept per route. */
const MAX_METHODS_PER_ROUTE = 64;

/** Methods the HTTP semantic conventions name; any other is `_OTHER` (with the original kept). */
const KNOWN_METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'CONNECT',
  'OPTIONS',
  'TRACE',
  'PATCH',
  'QUERY',
]);

/** `http.request.method` for a request method, as instrumentation-http normalises it. */
export function semconvMethod(method: string): string {
  if (KNOWN_METHODS.has(method)) return method;
  const upper = method.toUpperCase();
  return KNOWN_METHODS.has(upper) ? upper : '_OTHER';
}

/** One route's facts for one method. */
export interface RouteFacts {
  /**
   * The template Hono matched (`/users/:id`), or `undefined` when only middleware matched (a 404):
   * raw paths must never become span names or metric labels.
   */
  readonly route: string | undefined;
  /** The request method as the request has it (`c.req.method`). */
  readonly method: string;
  /** `http.request.method`: the method, or `_OTHER` outside the known set. */
  readonly semconvMethod: string;
  /** Span and operation name: `GET /users/:id`, or the method alone without a route. */
  readonly name: string;
  /** The configured target (`PERF_TARGETS`, `startTelemetry({ targets })`) of that name, seconds. */
  readonly tableTarget: number | undefined;
  /**
   * The `http.server.request.duration` series of the middleware's own server spans (each over one
   * frozen attribute set), by a key of status and protocol: looked up once, recorded into per
   * request. `undefined` on facts that are not kept (past {@link MAX_CACHED_ROUTES}): their
   * requests look their series up by the set's contents.
   */
  readonly durationSeries: Map<number, ValueRecorder> | undefined;
}

/**
 * The handler's route among the matched ones: the last that is not middleware. Middleware
 * registered with use() has the method ALL and a wildcard path; a handler has its own method (or
 * ALL from app.all(), whose path is then not a wildcard).
 */
function handlerRoute(c: Context): { readonly path: string } | undefined {
  const routes = matchedRoutes(c);
  for (let i = routes.length - 1; i >= 0; i--) {
    const route = routes[i];
    if (route && (route.method !== 'ALL' || (route.path !== '*' && route.path !== '/*'))) return route;
  }
  return undefined;
}

/** The route template of a request (for callers outside the middleware's hot path). */
export function routeTemplate(c: Context): string | undefined {
  return handlerRoute(c)?.path;
}

/** Route facts by Hono's route object (one per registered route, so the keys are bounded). */
export class RouteCache {
  readonly #targets: Readonly<Record<string, number>>;
  readonly #byRoute = new Map<object, Map<string, RouteFacts>>();
  readonly #unrouted = new Map<string, RouteFacts>();

  constructor(targets: Readonly<Record<string, number>>) {
    this.#targets = targets;
  }

  /** Routes with facts kept (at most {@link MAX_CACHED_ROUTES}). */
  get size(): number {
    return this.#byRoute.size;
  }

  /** The facts of `c`'s route and method. */
  of(c: Context): RouteFacts {
    const route = handlerRoute(c);
    const method = c.req.method;
    let byMethod = route === undefined ? this.#unrouted : this.#byRoute.get(route);
    const known = byMethod?.get(method);
    if (known !== undefined) return known;
    if (byMethod === undefined && this.#byRoute.size < MAX_CACHED_ROUTES) {
      byMethod = new Map();
      this.#byRoute.set(route as object, byMethod);
    }
    // Node's parser accepts a fixed list of methods; the cap is for other runtimes.
    const keep = byMethod !== undefined && byMethod.size < MAX_METHODS_PER_ROUTE;
    const facts = this.#build(route?.path, method, keep);
    if (keep) byMethod?.set(method, facts);
    return facts;
  }

  #build(route: string | undefined, method: string, kept: boolean): RouteFacts {
    const name = route === undefined ? method : `${method} ${route}`;
    return {
      route,
      method,
      semconvMethod: semconvMethod(method),
      name,
      tableTarget: Object.hasOwn(this.#targets, name) ? this.#targets[name] : undefined,
      durationSeries: kept ? new Map() : undefined,
    };
  }
}
