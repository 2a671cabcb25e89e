/**
 * The OTLP/gRPC receiver: the collector's `TraceService/Export` and `MetricsService/Export` on a
 * grpc-js server. The methods are defined by hand with an identity request deserializer, so a
 * request reaches the handler as the bytes grpc-js received (gzip already undone, under
 * `maxReceiveMessageLength`, which grpc-js also applies after decompression) and is decoded by the
 * same code as OTLP/HTTP protobuf bodies.
 *
 * A server interceptor admits each call on its metadata, before grpc-js reads any of its message:
 * shutting down (UNAVAILABLE), the token (UNAUTHENTICATED), a full queue and a full in-flight
 * budget (RESOURCE_EXHAUSTED with a `google.rpc.RetryInfo` in the status details, which tells OTLP
 * exporters they may retry). An admitted call holds a small reservation of the budget, grown to its
 * message's size when the message arrives (RESOURCE_EXHAUSTED with RetryInfo when there is no room
 * for it), until it ends; and it has `readTimeoutMs` for its message to arrive (DEADLINE_EXCEEDED
 * past it), since gRPC has no server-side read deadline of its own. It also counts the calls grpc-js ends on its own (a message over the limit, before or after
 * decompression; a bad compressed message; a deadline).
 */

import type { Duplex } from 'node:stream';
import {
  Metadata,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
  status,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { errorText } from '../shared/errors.ts';
import type { TokenCheck } from './auth.ts';
import { RESERVATION_STEP_BYTES, type Reservation } from './budget.ts';
import type { ExportResult, IngestCore, RefusalReason } from './core.ts';
import { otlpTypes } from './proto.ts';
import {
  BUSY_MESSAGE,
  encodeStatus,
  QUEUE_FULL_MESSAGE,
  QUEUE_FULL_RETRY_SECONDS,
  type Signal,
} from './responses.ts';

/** Options of {@link startGrpcReceiver} (checked by the receivers' options schema). */
export interface GrpcReceiverOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Largest message, after decompression (grpc-js answers RESOURCE_EXHAUSTED past it). */
  readonly maxBodyBytes: number;
  /** Longest the message may take to arrive after the call is admitted, ms (DEADLINE_EXCEEDED past it). */
  readonly readTimeoutMs: number;
  readonly tokenCheck: TokenCheck;
  readonly core: IngestCore;
  readonly logger: Logger;
}

/** A listening OTLP/gRPC receiver. */
export interface GrpcReceiver {
  /** `host:port`, as a gRPC exporter's endpoint takes it (with `http://` in front). */
  readonly address: string;
  readonly port: number;
  /** Refuses new calls, lets calls in progress finish within `timeoutMs`, then cancels the rest. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * The receiver's grpc-js server, fed the connections that `grpc-listener.ts` accepted (grpc-js's
 * connection injector: the same HTTP/2 server and handlers as a port grpc-js binds itself).
 */
export interface GrpcService {
  /** Hands an accepted connection to grpc-js. */
  injectConnection(socket: Duplex): void;
  /** Refuses new calls, lets calls in progress finish within `timeoutMs`, then cancels the rest. */
  close(timeoutMs: number): Promise<void>;
}

/** Full method paths of the OTLP collector services. */
export const GRPC_METHODS: Readonly<Record<Signal, string>> = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
};

/**
 * Most concurrent calls on one connection (HTTP/2 streams): the in-flight budget bounds the bytes
 * of all calls; this bounds how many calls one client can open.
 */
const MAX_CONCURRENT_STREAMS = 64;

/** A status grpc-js sends, as the intercepting calls pass it on. */
type CallStatus = Parameters<ServerInterceptingCallInterface['sendStatus']>[0];

/** The signal of a method path. */
function signalOfPath(path: string): Signal | undefined {
  if (path === GRPC_METHODS.traces) return 'traces';
  return path === GRPC_METHODS.metrics ? 'metrics' : undefined;
}

/** The refusal reason of a call grpc-js ended on its own, by its status. */
function reasonOfStatus(code: status): RefusalReason {
  if (code === status.RESOURCE_EXHAUSTED) return 'tooLarge';
  if (code === status.DEADLINE_EXCEEDED) return 'timeout';
  if (code === status.CANCELLED) return 'aborted';
  return 'invalid';
}

/**
 * Whether the client has already reset the call's HTTP/2 stream (a status then goes nowhere).
 * grpc-js tells interceptors nothing of it before onCancel, a tick after the status; its own call,
 * the one the receiver's interceptor wraps, keeps the stream as `stream` (grpc-js 1.14). Should that
 * change, this says `false`, and such a cancel is counted by its status.
 */
function clientReset(call: ServerInterceptingCallInterface): boolean {
  const stream = (call as unknown as { stream?: { closed?: unknown; destroyed?: unknown } }).stream;
  return stream?.closed === true || stream?.destroyed === true;
}

/** A unary `Export` whose request stays bytes and whose response is encoded with `Export*ServiceResponse`. */
function exportService(signal: Signal): ServiceDefinition {
  // The types are looked up per call (otlpTypes() parses them once, on the first): built when the
  // receiver starts, they would be memory held by a sidecar that is never sent anything.
  const response = () => (signal === 'traces' ? otlpTypes().traceResponse : otlpTypes().metricsResponse);
  const request = () => (signal === 'traces' ? otlpTypes().traceRequest : otlpTypes().metricsRequest);
  return {
    Export: {
      path: GRPC_METHODS[signal],
      requestStream: false,
      responseStream: false,
      requestSerialize: (value: Buffer) => value,
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize: (value: object) => Buffer.from(response().encode(value).finish()),
      responseDeserialize: (bytes: Buffer) => request().decode(bytes),
    },
  };
}

interface ServiceError {
  code: status;
  details: string;
  metadata?: Metadata;
}

function errorOf(result: Exclude<ExportResult, { kind: 'accepted' }>): ServiceError {
  switch (result.kind) {
    case 'invalid':
      return { code: status.INVALID_ARGUMENT, details: result.message };
    case 'tooManySpans':
      // No RetryInfo: the same request would be refused again.
      return { code: status.RESOURCE_EXHAUSTED, details: result.message };
    case 'queueFull':
    case 'busy': {
      const metadata = new Metadata();
      metadata.set(
        'grpc-status-details-bin',
        encodeStatus(status.RESOURCE_EXHAUSTED, result.message, QUEUE_FULL_RETRY_SECONDS),
      );
      return { code: status.RESOURCE_EXHAUSTED, details: result.message, metadata };
    }
  }
}

/**
 * The OTLP/gRPC service (insecure: plaintext HTTP/2, as the sidecar is reached locally), for the
 * connections of the listener that `startGrpcReceiver` (grpc-listener.ts) opened.
 */
export function grpcService(options: GrpcReceiverOptions): GrpcService {
  const { core, logger } = options;
  let closing = false;
  let lastFaultLog = 0;

  /** Why a call must be refused before its message is read, or `undefined` to admit it. */
  const admission = (signal: Signal | undefined, metadata: Metadata): ServiceError | undefined => {
    if (closing) {
      core.refuse('shuttingDown');
      return { code: status.UNAVAILABLE, details: 'the receiver is shutting down; retry later' };
    }
    const authorization = metadata.get('authorization')[0];
    if (!options.tokenCheck(typeof authorization === 'string' ? authorization : undefined)) {
      core.refuse('unauthorized');
      return {
        code: status.UNAUTHENTICATED,
        details: 'missing or wrong bearer token; expected the metadata authorization: Bearer <token>',
      };
    }
    if (signal === 'traces' && core.queueFull()) {
      core.refuse('queueFull');
      return errorOf({ kind: 'queueFull', message: QUEUE_FULL_MESSAGE });
    }
    return undefined;
  };

  const interceptor: ServerInterceptor = (method, next) => {
    core.counters.requests.grpc++;
    const signal = signalOfPath(method.path);
    let reservation: Reservation | undefined;
    /** The read deadline: from admission until the message arrives (gRPC has none of its own). */
    let readTimer: NodeJS.Timeout | undefined;
    /** The message reached the handler, which counts how its call ends. */
    let delivered = false;
    /** How the call ended is counted (by a refusal here, a status, or the cancel). */
    let counted = false;
    const finish = () => {
      clearTimeout(readTimer);
      reservation?.release();
    };
    // grpc-js ends some calls itself (a message over maxReceiveMessageLength, one that does not
    // decompress, a deadline, no message before the client's end) by calling sendStatus on the call
    // it made, which no interceptor sees; wrapping that method is how those calls are counted and
    // their reservation released.
    const sendStatus = next.sendStatus.bind(next);
    next.sendStatus = (sent: CallStatus) => {
      // A client that resets its stream mid-message also gets grpc-js's own "no request message"
      // status (the reset ends the stream's reading side first): onCancel counts it, as `aborted`.
      if (!delivered && sent.code !== status.OK && !clientReset(next)) {
        // Counted a tick later, so that a cancel already queued is seen first; queued before
        // sendStatus runs, which queues onCancel after every status it sends.
        process.nextTick(() => {
          if (counted) return;
          counted = true;
          core.refuse(reasonOfStatus(sent.code));
        });
      }
      finish();
      sendStatus(sent);
    };
    /** Ends the call with `refusal`, counted here. */
    const refuse = (refusal: ServiceError) => {
      counted = true;
      call.sendStatus({ ...refusal, metadata: refusal.metadata ?? new Metadata() });
    };
    /** The busy refusal, counted. */
    const busy = (): ServiceError => {
      core.refuse('busy');
      return errorOf({ kind: 'busy', message: BUSY_MESSAGE });
    };
    /**
     * Reserves a first step of the budget (a message's size is known only once grpc-js has read it;
     * reserving the body limit here would let only a few calls in at once, however small), and
     * starts the read deadline.
     */
    const admit = (): ServiceError | undefined => {
      reservation = core.reserve(Math.min(RESERVATION_STEP_BYTES, options.maxBodyBytes));
      if (reservation === undefined) return busy();
      readTimer = setTimeout(() => {
        // Through the call's own sendStatus, so that it is counted and released as any status.
        call.sendStatus({
          code: status.DEADLINE_EXCEEDED,
          details: `the request message did not arrive within ${options.readTimeoutMs} ms`,
          metadata: new Metadata(),
        });
      }, options.readTimeoutMs);
      // A call that is never ended is cancelled at shutdown; the timer must not hold the process.
      readTimer.unref();
      return undefined;
    };
    const call: ServerInterceptingCall = new ServerInterceptingCall(next, {
      start: (go) =>
        go({
          onReceiveMetadata: (metadata, pass) => {
            const refusal = admission(signal, metadata) ?? admit();
            if (refusal === undefined) return pass(metadata);
            // Not passed on: the handler never asks for the message, which is never read.
            refuse(refusal);
          },
          onReceiveMessage: (message: Buffer, pass) => {
            clearTimeout(readTimer);
            // grpc-js has the whole message in memory by now (under the body limit): the
            // reservation takes its size, or the call is refused without handling it.
            if (!reservation?.growTo(message.length)) return refuse(busy());
            delivered = true;
            pass(message);
          },
          onCancel: () => {
            // After every call's end (a tick after its status), and alone when the client went
            // away first: then nothing was counted yet, and the handler did not run.
            if (!counted && !delivered) core.refuse('aborted');
            counted = true;
            finish();
          },
        }),
    });
    return call;
  };

  const handler =
    (signal: Signal) =>
    (call: ServerUnaryCall<Buffer, object>, callback: sendUnaryData<object>): void => {
      try {
        // Admitted by the interceptor (shutting down, token, queue, budget) before the message was read.
        const result =
          signal === 'traces'
            ? core.traces(call.request, 'protobuf')
            : core.metrics(call.request, 'protobuf');
        if (result.kind === 'accepted') callback(null, result.response);
        else callback(errorOf(result));
      } catch (error) {
        core.refuse('internal');
        const now = Date.now();
        if (now - lastFaultLog >= 60_000) {
          lastFaultLog = now;
          logger.error({ err: errorText(error), signal }, 'OTLP/gRPC receiver failed on a call');
        }
        callback({ code: status.INTERNAL, details: 'internal error in the receiver' });
      }
    };

  const server = new Server({
    'grpc.max_receive_message_length': options.maxBodyBytes,
    'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS,
    interceptors: [interceptor],
  });
  server.addService(exportService('traces'), { Export: handler('traces') });
  server.addService(exportService('metrics'), { Export: handler('metrics') });
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());

  let closed: Promise<void> | undefined;
  return {
    injectConnection: (socket) => injector.injectConnection(socket),
    close(timeoutMs) {
      closed ??= new Promise<void>((resolve) => {
        closing = true;
        const force = setTimeout(() => {
          logger.warn('OTLP/gRPC calls did not finish in time; cancelling them');
          server.forceShutdown();
          resolve();
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
      return closed;
    },
  };
}
