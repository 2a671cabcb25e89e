/** Tracing helpers shared by every part of perf-sidecar. */
import type { Server, Socket } from 'node:net';
import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';

/**
 * Runs `fn` with tracing suppressed: perf-sidecar's own housekeeping (alert writes, rollups, pings,
 * catalogue reads) makes no spans, so it never feeds back into the target processor or the traces.
 */
export function untraced<T>(fn: () => T): T {
  return context.with(suppressTracing(context.active()), fn);
}

/**
 * Connections accepted by servers marked with {@link markUntracedServer}. Keyed by the socket (what
 * every request reaches through the documented `req.socket`), weakly, so a closed connection leaves
 * nothing behind; a port or address key would also catch another server on the same port of
 * another interface.
 */
const untracedSockets = new WeakSet<object>();
const untracedServers = new WeakSet<Server>();

/**
 * Marks `server` as one whose requests are never traced nor measured by the HTTP instrumentation:
 * the OTLP receiver's, whose every export would otherwise become a span (and a request in the
 * report) of the sidecar itself, and could feed back into what it receives. Call it before the
 * server accepts connections; marking twice is harmless.
 */
export function markUntracedServer(server: Server): void {
  if (untracedServers.has(server)) return;
  untracedServers.add(server);
  // 'connection' comes before any byte of the connection is parsed, so before its first request.
  server.on('connection', (socket: Socket) => untracedSockets.add(socket));
}

/**
 * Whether an incoming request arrived on a server marked with {@link markUntracedServer}: the
 * HTTP instrumentation's `ignoreIncomingRequestHook`.
 */
export function isUntracedRequest(request: { readonly socket?: unknown }): boolean {
  const socket = request.socket;
  return typeof socket === 'object' && socket !== null && untracedSockets.has(socket);
}
