/**
 * The OTLP/HTTP receiver: `POST /v1/traces` and `POST /v1/metrics` on node:http, no framework, so
 * that the body streams through the limits (`body.ts`) and the path stays lean. Answers follow the
 * OTLP specification: 200 with an `Export*ServiceResponse` (with `partial_success` for refused
 * spans) in the request's encoding; a `google.rpc.Status` body with 400 (undecodable), 401 (token),
 * 404, 405, 408, 413 (size), 415 (media type, encoding), 429 (queue full, or too many bodies being
 * read) and 503 (shutting down), the last two with Retry-After. Bad input never gets a 500: that is
 * for real internal faults. The server is marked untraced: the sidecar's own HTTP instrumentation
 * leaves the receiver's requests out of its traces and report.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type AddressInfo, Server as NetServer } from 'node:net';
import type { Logger } from 'pino';
import { describeValue, errorText } from '../shared/errors.ts';
import { markUntracedServer } from '../shared/tracing.ts';
import type { TokenCheck } from './auth.ts';
import { BodyError, encodingOf, readBody } from './body.ts';
import { RESERVATION_STEP_BYTES } from './budget.ts';
import type { ExportResult, IngestCore, RefusalReason } from './core.ts';
import type { BodyFormat } from './decode.ts';
import {
  BUSY_MESSAGE,
  CONTENT_TYPES,
  encodeExportResponse,
  GrpcCode,
  QUEUE_FULL_MESSAGE,
  QUEUE_FULL_RETRY_SECONDS,
  SHUTDOWN_RETRY_SECONDS,
  type Signal,
  statusBody,
} from './responses.ts';

/** Options of {@link startHttpReceiver} (checked by the receivers' options schema). */
export interface HttpReceiverOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Largest body, on the wire and after decompression. */
  readonly maxBodyBytes: number;
  /** Longest a body may take to arrive, ms. */
  readonly readTimeoutMs: number;
  /** Most connections open at once; later ones are closed as they come. */
  readonly maxConnections: number;
  readonly tokenCheck: TokenCheck;
  readonly core: IngestCore;
  readonly logger: Logger;
}

/** A listening OTLP/HTTP receiver. */
export interface HttpReceiver {
  /** Base URL, for example `http://127.0.0.1:4318` (exporters append `/v1/traces`). */
  readonly url: string;
  readonly port: number;
  /**
   * Stops listening and closes idle connections; later requests on open connections get 503, and
   * in-flight ones are finished (with `Connection: close`) within `timeoutMs`, after which their
   * connections are closed.
   */
  close(timeoutMs: number): Promise<void>;
}

/**
 * Longest the request line and headers may take to arrive, ms: an exporter sends them at once, so
 * a connection that trickles them (holding a connection slot) is cut off well before a body would be.
 */
const HEADERS_TIMEOUT_MS = 10_000;

/** The body format named by a `Content-Type` value (parameters such as charset allowed). */
export function formatOf(header: string | undefined): BodyFormat | undefined {
  if (header === undefined) return undefined;
  const semi = header.indexOf(';');
  const type = (semi === -1 ? header : header.slice(0, semi)).trim().toLowerCase();
  if (type === 'application/x-protobuf') return 'protobuf';
  return type === 'application/json' ? 'json' : undefined;
}

function signalOf(url: string | undefined): Signal | undefined {
  if (url === undefined) return undefined;
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  if (path === '/v1/traces') return 'traces';
  return path === '/v1/metrics' ? 'metrics' : undefined;
}

function send(
  res: ServerResponse,
  status: number,
  format: BodyFormat,
  body: Uint8Array | string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, {
    'Content-Type': CONTENT_TYPES[format],
    'Content-Length': String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength),
    ...headers,
  });
  res.end(body);
}

/**
 * Lets the rest of a body the receiver will not use go by without keeping it, so the connection
 * stays usable; past `maxBytes` more the sender is cut off.
 */
function discardRest(req: IncomingMessage, maxBytes: number): void {
  if (req.complete) return;
  let discarded = 0;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > maxBytes) req.socket.destroy();
  });
  req.resume();
}

/** Starts an OTLP/HTTP receiver. */
export async function startHttpReceiver(options: HttpReceiverOptions): Promise<HttpReceiver> {
  const { core, logger, maxBodyBytes } = options;
  let closing = false;
  let lastFaultLog = 0;
  // Responses not yet started, so a shutdown can still turn them into `Connection: close`; bounded
  // by the open connections (one unanswered request per connection without pipelining).
  const pending = new Set<ServerResponse>();

  const refuse = (
    req: IncomingMessage,
    res: ServerResponse,
    reason: RefusalReason,
    status: number,
    format: BodyFormat,
    code: number,
    message: string,
    headers?: Record<string, string>,
    retryAfterSeconds?: number,
  ) => {
    core.refuse(reason);
    send(res, status, format, statusBody(format, code, message, retryAfterSeconds), headers);
    discardRest(req, maxBodyBytes);
  };

  const answer = (res: ServerResponse, signal: Signal, format: BodyFormat, result: ExportResult) => {
    switch (result.kind) {
      case 'accepted':
        return send(res, 200, format, encodeExportResponse(signal, format, result.response));
      case 'invalid':
        return send(res, 400, format, statusBody(format, GrpcCode.INVALID_ARGUMENT, result.message));
      case 'tooManySpans':
        return send(res, 413, format, statusBody(format, GrpcCode.RESOURCE_EXHAUSTED, result.message));
      case 'queueFull':
      case 'busy':
        return send(
          res,
          429,
          format,
          statusBody(format, GrpcCode.RESOURCE_EXHAUSTED, result.message, QUEUE_FULL_RETRY_SECONDS),
          { 'Retry-After': String(QUEUE_FULL_RETRY_SECONDS) },
        );
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (closing) {
      res.shouldKeepAlive = false;
      return refuse(
        req,
        res,
        'shuttingDown',
        503,
        formatOf(req.headers['content-type']) ?? 'json',
        GrpcCode.UNAVAILABLE,
        'the receiver is shutting down; retry later',
        { 'Retry-After': String(SHUTDOWN_RETRY_SECONDS) },
        SHUTDOWN_RETRY_SECONDS,
      );
    }
    const signal = signalOf(req.url);
    const given = formatOf(req.headers['content-type']);
    const replyFormat = given ?? 'json';
    if (signal === undefined) {
      const message = `no OTLP endpoint at ${describeValue(req.url)}; expected POST /v1/traces or POST /v1/metrics`;
      return refuse(req, res, 'notFound', 404, replyFormat, GrpcCode.NOT_FOUND, message);
    }
    if (req.method !== 'POST') {
      const message = `${describeValue(req.method)} is not accepted on /v1/${signal}; expected POST`;
      return refuse(req, res, 'methodNotAllowed', 405, replyFormat, GrpcCode.UNIMPLEMENTED, message, {
        Allow: 'POST',
      });
    }
    if (!options.tokenCheck(req.headers.authorization)) {
      const message = 'missing or wrong bearer token; expected the header Authorization: Bearer <token>';
      return refuse(req, res, 'unauthorized', 401, replyFormat, GrpcCode.UNAUTHENTICATED, message, {
        'WWW-Authenticate': 'Bearer',
      });
    }
    if (given === undefined) {
      const message = `Content-Type ${describeValue(req.headers['content-type'])} is not accepted; expected application/x-protobuf or application/json`;
      return refuse(req, res, 'unsupportedMediaType', 415, 'json', GrpcCode.INVALID_ARGUMENT, message);
    }
    const encoding = encodingOf(req.headers['content-encoding']);
    if (encoding === undefined) {
      const message = `Content-Encoding ${describeValue(req.headers['content-encoding'])} is not accepted; expected gzip or none`;
      return refuse(req, res, 'unsupportedMediaType', 415, given, GrpcCode.INVALID_ARGUMENT, message);
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) {
      const message = `the request body is ${declared} bytes, larger than the limit of ${maxBodyBytes} bytes`;
      return refuse(req, res, 'tooLarge', 413, given, GrpcCode.RESOURCE_EXHAUSTED, message);
    }
    if (signal === 'traces' && core.queueFull()) {
      // Refused before reading: under a flood, a full queue costs no decoding.
      core.refuse('queueFull');
      answer(res, signal, given, { kind: 'queueFull', message: QUEUE_FULL_MESSAGE });
      return discardRest(req, maxBodyBytes);
    }
    // What the body is known to take in memory: its declared length when it is not compressed;
    // else (gzip, chunked) a first step, grown by readBody as the decompressed bytes arrive, so
    // that small compressed bodies do not each hold the body limit.
    const known = encoding === 'identity' && req.headers['content-length'] !== undefined;
    const reservation = core.reserve(known ? declared : Math.min(RESERVATION_STEP_BYTES, maxBodyBytes));
    if (reservation === undefined) {
      core.refuse('busy');
      answer(res, signal, given, { kind: 'busy', message: BUSY_MESSAGE });
      return discardRest(req, maxBodyBytes);
    }
    try {
      let body: Buffer;
      try {
        body = await readBody(
          req,
          encoding,
          { maxBytes: maxBodyBytes, timeoutMs: options.readTimeoutMs, reservation },
          core.counters.bodies,
        );
      } catch (error) {
        if (!(error instanceof BodyError)) throw error;
        if (error.problem === 'aborted') {
          core.refuse('aborted');
          return;
        }
        if (error.problem === 'timeout') {
          // A sender this slow is not waited for again on this connection.
          res.shouldKeepAlive = false;
          core.refuse('timeout');
          send(res, 408, given, statusBody(given, GrpcCode.DEADLINE_EXCEEDED, error.message));
          return;
        }
        if (error.problem === 'busy') {
          // The body outgrew the room left in the budget: refused as one that found none at all
          // (what it held is given back below, before the rest of it is let go by).
          core.refuse('busy');
          answer(res, signal, given, { kind: 'busy', message: BUSY_MESSAGE });
          return discardRest(req, maxBodyBytes);
        }
        const reason = error.problem === 'tooLarge' ? 'tooLarge' : 'invalid';
        const code = error.problem === 'tooLarge' ? GrpcCode.RESOURCE_EXHAUSTED : GrpcCode.INVALID_ARGUMENT;
        return refuse(req, res, reason, error.status, given, code, error.message);
      }
      const result = signal === 'traces' ? core.traces(body, given) : core.metrics(body, given);
      answer(res, signal, given, result);
    } finally {
      // Answered (or cut off): the body is no longer held.
      reservation.release();
    }
  };

  const fault = (req: IncomingMessage, res: ServerResponse, error: unknown) => {
    core.refuse('internal');
    // One line a minute at most: a fault that repeats on every request must not flood the log.
    const now = Date.now();
    if (now - lastFaultLog >= 60_000) {
      lastFaultLog = now;
      logger.error(
        { err: errorText(error), path: signalOf(req.url) },
        'OTLP/HTTP receiver failed on a request',
      );
    }
    const format = formatOf(req.headers['content-type']) ?? 'json';
    send(res, 500, format, statusBody(format, GrpcCode.INTERNAL, 'internal error in the receiver'));
    discardRest(req, maxBodyBytes);
  };

  const requestTimeout = options.readTimeoutMs + 5_000;
  const server: Server = createServer({
    // Node's own deadlines: headers soon, the whole request a little after the receiver's own body
    // deadline (body.ts), so that the receiver's 408 is the one sent. Checked every second, not
    // every 30 (Node's default), so that they hold.
    headersTimeout: Math.min(HEADERS_TIMEOUT_MS, requestTimeout),
    requestTimeout,
    connectionsCheckingInterval: 1_000,
  });
  // Each connection costs a socket and its buffers: past the limit new ones are closed at once.
  server.maxConnections = options.maxConnections;
  markUntracedServer(server);
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    core.counters.requests.http++;
    if (closing) res.shouldKeepAlive = false;
    else {
      pending.add(res);
      res.once('close', () => pending.delete(res));
    }
    handle(req, res).catch((error: unknown) => fault(req, res, error));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => logger.error({ err: errorText(error) }, 'OTLP/HTTP receiver error'));
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  let closed: Promise<void> | undefined;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    close(timeoutMs) {
      closed ??= (async () => {
        closing = true;
        for (const res of pending) if (!res.headersSent) res.shouldKeepAlive = false;
        pending.clear();
        const done = new Promise<void>((resolve) => server.once('close', () => resolve()));
        // net.Server's close only stops listening (http.Server's would close idle connections
        // first, letting a reconnecting client into the backlog to be reset).
        NetServer.prototype.close.call(server);
        server.closeIdleConnections();
        // A response sent with keep-alive just before leaves an idle connection behind.
        const idle = setInterval(() => server.closeIdleConnections(), 50);
        const force = setTimeout(() => {
          logger.warn('OTLP/HTTP requests did not finish in time; closing their connections');
          server.closeAllConnections();
        }, timeoutMs);
        try {
          await done;
        } finally {
          clearInterval(idle);
          clearTimeout(force);
        }
        // http.Server's own close clears its connection-checking timer; the socket is already closed.
        server.close(() => undefined);
      })();
      return closed;
    },
  };
}
