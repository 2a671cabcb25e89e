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
 * exporters they may retry); an admitted call holds a reservation of the body limit until it ends.
 * It also counts the calls grpc-js ends on its own (a message over the limit, before or after
 * decompression; a bad compressed message; a deadline).
 */
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

/** Full method paths of the OTLP collector services. */
export const GRPC_METHODS: Readonly<Record<Signal, string>> = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
};

/**
 * Most concurrent calls on one connection (HTTP/2 streams): each admitted call reserves the body
 * limit from the in-flight budget, which bounds them all; this bounds what one client can open.
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

/** A unary `Export` whose request stays bytes and whose response is encoded with `Export*ServiceResponse`. */
function exportService(signal: Signal): ServiceDefinition {
  const types = otlpTypes();
  const response = signal === 'traces' ? types.traceResponse : types.metricsResponse;
  const request = signal === 'traces' ? types.traceRequest : types.metricsRequest;
  return {
    Export: {
      path: GRPC_METHODS[signal],
      requestStream: false,
      responseStream: false,
      requestSerialize: (value: Buffer) => value,
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize: (value: object) => Buffer.from(response.encode(value).finish()),
      responseDeserialize: (bytes: Buffer) => request.decode(bytes),
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

/** Starts an OTLP/gRPC receiver (insecure: plaintext HTTP/2, as the sidecar is reached locally). */
export async function startGrpcReceiver(options: GrpcReceiverOptions): Promise<GrpcReceiver> {
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
    let release: (() => void) | undefined;
    /** The message reached the handler, which counts how its call ends. */
    let delivered = false;
    /** Refused here, and counted. */
    let refused = false;
    let ended = false;
    // grpc-js ends some calls itself (a message over maxReceiveMessageLength, one that does not
    // decompress, a deadline) by calling sendStatus on the call it made, which no interceptor
    // sees; wrapping that method is how those calls are counted and their reservation released.
    const sendStatus = next.sendStatus.bind(next);
    next.sendStatus = (sent: CallStatus) => {
      if (!ended) {
        ended = true;
        if (!delivered && !refused && sent.code !== status.OK) core.refuse(reasonOfStatus(sent.code));
      }
      release?.();
      sendStatus(sent);
    };
    /** Reserves the body limit (a gRPC message's size is known only once it is read). */
    const reserve = (): ServiceError | undefined => {
      release = core.reserve(options.maxBodyBytes);
      if (release !== undefined) return undefined;
      core.refuse('busy');
      return errorOf({ kind: 'busy', message: BUSY_MESSAGE });
    };
    const call: ServerInterceptingCall = new ServerInterceptingCall(next, {
      start: (go) =>
        go({
          onReceiveMetadata: (metadata, pass) => {
            const refusal = admission(signal, metadata) ?? reserve();
            if (refusal === undefined) return pass(metadata);
            // Not passed on: the handler never asks for the message, which is never read.
            refused = true;
            call.sendStatus({ ...refusal, metadata: refusal.metadata ?? new Metadata() });
          },
          onReceiveMessage: (message, pass) => {
            delivered = true;
            pass(message);
          },
          onCancel: () => {
            // After every call's end, and alone when the client went away first.
            if (!ended && !delivered && !refused) core.refuse('aborted');
            ended = true;
            release?.();
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
  const hostPart = options.host.includes(':') ? `[${options.host}]` : options.host;
  const port = await new Promise<number>((resolve, reject) => {
    const address = `${hostPart}:${options.port}`;
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, bound) => {
      if (!error) return resolve(bound);
      // grpc-js says only "No address added out of total 1 resolved"; say where, keep its error.
      server.forceShutdown();
      reject(
        new Error(`the OTLP/gRPC receiver cannot listen on ${address} (in use?): ${error.message}`, {
          cause: error,
        }),
      );
    });
  });

  let closed: Promise<void> | undefined;
  return {
    address: `${hostPart}:${port}`,
    port,
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
