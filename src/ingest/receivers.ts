/**
 * The OTLP receivers together: HTTP and gRPC on one host, one token, one body limit, one budget of
 * bodies in memory, one queue in front of evaluation. The ingest facade (`index.ts`) gives them its
 * evaluation and metrics callbacks; a graceful {@link Receivers.close} stops listening, lets
 * in-flight requests finish and then evaluates everything that was accepted (what is left when
 * time runs out is discarded, counted and logged: nothing is evaluated after close resolves).
 *
 * @example
 * const receivers = await startReceivers({
 *   httpPort: 4318,
 *   grpcPort: 4317,
 *   processTraces: (decoded) => evaluateAndForward(decoded),
 *   onMetrics: (request, dataPoints, raw) => recordRuntime(request),
 * });
 * // ... later
 * await receivers.close(5000);
 */
import type { Logger } from 'pino';
import { z } from 'zod';
import { MAX_INGEST_BODY_BYTES } from '../config/ingest.ts';
import { getLogger } from '../shared/logger.ts';
import { accepts, callable, integer, matching, parseOptions, withMethods } from '../shared/options.ts';
import { tokenCheck } from './auth.ts';
import { InflightBudget } from './budget.ts';
import { IngestCore, type OnMetrics, type ReceiverStats } from './core.ts';
import { startGrpcReceiver } from './grpc-listener.ts';
import { type HttpReceiver, startHttpReceiver } from './http-receiver.ts';
import { type ProcessTraces, TraceQueue } from './queue.ts';

/**
 * Default bound of the queue in estimated memory of the decoded requests (a request is always let
 * into an empty queue, whatever its size): about what 100,000 spans of ten attributes take.
 */
export const DEFAULT_QUEUE_BYTES = 256 * 1024 * 1024;

/** Default in-flight budget, in body limits: four largest requests read at once. */
export const DEFAULT_INFLIGHT_BODIES = 4;

/** Default most OTLP/HTTP connections open at once. */
export const DEFAULT_MAX_CONNECTIONS = 1024;

/** The fields of {@link ReceiversOptions} (a constant of their own, so the declarations keep the comments). */
const receiversOptionFields = {
  /** Listen address of both receivers. Default `127.0.0.1`. */
  host: matching(/^[A-Za-z0-9.:_-]{1,253}$/, 'a host name or IP address').default('127.0.0.1'),
  /** OTLP/HTTP port; 0 picks a free one. Default 4318. */
  httpPort: integer(0, 65_535).default(4318),
  /** OTLP/gRPC port; 0 picks a free one. Default 4317. */
  grpcPort: integer(0, 65_535).default(4317),
  /** Bearer token both receivers require; none when absent. Never logged nor echoed. */
  token: accepts(
    z.string().regex(/^(?=.{16,512}$)[A-Za-z0-9._~+/-]+=*$/),
    '16 to 512 characters of A-Z a-z 0-9 - . _ ~ + / (then optional = padding)',
    true,
  ).optional(),
  /** Largest request body (message, for gRPC), after decompression. Default 20 MiB. */
  maxBodyBytes: integer(1024, MAX_INGEST_BODY_BYTES, 'bytes').default(20 * 1024 * 1024),
  /** Spans accepted and not yet evaluated; past it requests are refused (429, RESOURCE_EXHAUSTED). Default 100000. */
  queueSpans: integer(1, 10_000_000).default(100_000),
  /**
   * Estimated memory of the decoded requests accepted and not yet evaluated (body bytes times two,
   * plus about 1.5 KiB a span and 160 bytes an attribute, event or link; see `decode.ts`), a bound
   * on the queue's memory. Default 256 MiB; never below `maxBodyBytes`.
   */
  queueBytes: integer(1024, 16 * 1024 * 1024 * 1024, 'bytes').optional(),
  /**
   * Bytes of request bodies being read or handled at once, both receivers and both signals
   * together: each request reserves its `Content-Length` (uncompressed HTTP) or 64 KiB (gzip or
   * chunked HTTP, every gRPC call) before it is read, and grows that as its bytes arrive (HTTP,
   * after decompression) or once its message is read (gRPC). A request that finds no room is
   * answered 429 / RESOURCE_EXHAUSTED with RetryInfo, at once or as soon as it outgrows the room
   * left. Default four times `maxBodyBytes`; never below `maxBodyBytes`.
   */
  maxInflightBytes: integer(1024, 64 * 1024 * 1024 * 1024, 'bytes').optional(),
  /** Most OTLP/HTTP connections open at once; later ones are closed as they come. Default 1024. */
  maxConnections: integer(1, 1_000_000).default(DEFAULT_MAX_CONNECTIONS),
  /**
   * Longest an OTLP/HTTP body (408 past it) or an admitted OTLP/gRPC call's message
   * (DEADLINE_EXCEEDED past it) may take to arrive, ms. Default 30000.
   */
  readTimeoutMs: integer(100, 600_000, 'ms').default(30_000),
  /** Evaluates one accepted trace request; a returned promise holds the queue until it settles. */
  processTraces: callable<ProcessTraces>('a function taking the decoded traces'),
  /** Receives each decoded metrics request; when absent, metrics are accepted and dropped. */
  onMetrics: callable<OnMetrics>(
    'a function taking a metrics request, its data-point count and raw bytes',
  ).optional(),
  /** Where the receivers log. Default perf-sidecar's logger. */
  logger: withMethods<Logger>(['info', 'warn', 'error'], 'a pino logger').optional(),
};
const receiversOptionsSchema: z.ZodObject<typeof receiversOptionFields, z.core.$strict> =
  z.strictObject(receiversOptionFields);

/** Options of {@link startReceivers}. */
export type ReceiversOptions = z.input<typeof receiversOptionsSchema>;

/** The running receivers. */
export interface Receivers {
  /** OTLP/HTTP base URL, for example `http://127.0.0.1:4318`. */
  readonly httpUrl: string;
  /** The port the OTLP/HTTP receiver listens on. */
  readonly httpPort: number;
  /** OTLP/gRPC `host:port`, for example `127.0.0.1:4317`. */
  readonly grpcAddress: string;
  /** The port the OTLP/gRPC receiver listens on. */
  readonly grpcPort: number;
  /** Counters and queue figures, for health and metrics. */
  stats(): ReceiverStats;
  /**
   * Graceful stop: both receivers stop listening and refuse new requests (503, UNAVAILABLE),
   * in-flight requests finish, then the queue is drained: every accepted span is handed to
   * `processTraces`. Takes at most about `timeoutMs` (default 5000), half for the requests and the
   * rest for the queue; spans still queued then are discarded (counted in `spans.notEvaluated`,
   * with one warning) and `processTraces` is not called again after the returned promise resolves.
   */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Starts the OTLP/HTTP and OTLP/gRPC receivers.
 *
 * @throws {InvalidArgumentError} naming a bad option, before anything starts.
 * @throws {Error} when an address cannot be listened on (`EADDRINUSE`, ...); nothing is left listening.
 */
export async function startReceivers(given: ReceiversOptions): Promise<Receivers> {
  const options = parseOptions(receiversOptionsSchema, given, { what: 'an option of startReceivers' });
  const logger = options.logger ?? getLogger();
  const queue = new TraceQueue({
    maxSpans: options.queueSpans,
    maxBytes: Math.max(options.queueBytes ?? DEFAULT_QUEUE_BYTES, options.maxBodyBytes),
    process: options.processTraces,
    logger,
  });
  // At least one largest body, so that an idle receiver takes any request within the body limit.
  const budget = new InflightBudget(
    Math.max(
      options.maxInflightBytes ?? DEFAULT_INFLIGHT_BODIES * options.maxBodyBytes,
      options.maxBodyBytes,
    ),
  );
  const core = new IngestCore(queue, budget, options.onMetrics);
  const check = tokenCheck(options.token);
  const common = {
    host: options.host,
    maxBodyBytes: options.maxBodyBytes,
    readTimeoutMs: options.readTimeoutMs,
    tokenCheck: check,
    core,
    logger,
  };
  const http: HttpReceiver = await startHttpReceiver({
    ...common,
    port: options.httpPort,
    maxConnections: options.maxConnections,
  });
  let grpc: Awaited<ReturnType<typeof startGrpcReceiver>>;
  try {
    grpc = await startGrpcReceiver({ ...common, port: options.grpcPort });
  } catch (error) {
    await http.close(1000);
    throw error;
  }
  logger.info(
    { http: http.url, grpc: grpc.address, auth: options.token !== undefined },
    'OTLP receivers listening',
  );

  let closing: Promise<void> | undefined;
  return {
    httpUrl: http.url,
    httpPort: http.port,
    grpcAddress: grpc.address,
    grpcPort: grpc.port,
    stats: () => core.stats(),
    close(timeoutMs = 5000) {
      closing ??= (async () => {
        const deadline = Date.now() + timeoutMs;
        await Promise.all([http.close(timeoutMs / 2), grpc.close(timeoutMs / 2)]);
        // Whoever closes the receivers stops telemetry next: nothing may be evaluated after that.
        if (!(await queue.drain(Math.max(deadline - Date.now(), 100)))) queue.stop();
      })();
      return closing;
    },
  };
}
