/**
 * An OTLP/gRPC receiver for tests: a real gRPC server (grpc-js) serving the collector's trace and
 * metrics `Export` methods. Trace requests are decoded with the OTLP protobuf definitions
 * (proto/), independently of the exporter's own serializer; of metric requests
 * the metric names and the resource's `service.name` are decoded, which is what the tests look at.
 * A test can make it refuse the next calls with a status, and status details
 * ({@link OtlpGrpcReceiver.failNext}).
 */
import {
  type handleUnaryCall,
  Metadata,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import { decodeSpans, loadTraceTypes, type ProtoSpan } from './otlp-proto-receiver.ts';

/** The part of the OTLP metrics protocol the tests read (protobuf skips the other fields). */
const METRICS_SUBSET = `
syntax = "proto3";
package subset;
message AnyValue { string string_value = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message Resource { repeated KeyValue attributes = 1; }
message Metric { string name = 1; }
message ScopeMetrics { repeated Metric metrics = 2; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; }
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
`;

interface DecodedMetrics {
  resourceMetrics?: {
    resource?: { attributes?: { key: string; value?: { stringValue?: string } }[] };
    scopeMetrics?: { metrics?: { name: string }[] }[];
  }[];
}

/** One metric as received: its name and the service that sent it. */
export interface GrpcMetric {
  readonly name: string;
  readonly service: string | undefined;
}

/** A unary method that takes and returns raw bytes (decoding is done by the handler). */
function rawMethod(path: string) {
  const same = (bytes: Buffer) => bytes;
  return {
    path,
    requestStream: false,
    responseStream: false,
    requestSerialize: same,
    requestDeserialize: same,
    responseSerialize: same,
    responseDeserialize: same,
  } as const;
}

/** How the receiver answers the next calls instead of accepting them. */
export interface GrpcFailure {
  /** gRPC status code (`status.UNAVAILABLE`, ...). */
  readonly code: number;
  /** Status message. */
  readonly details?: string;
  /**
   * An encoded `google.rpc.Status` sent as the `grpc-status-details-bin` trailer, as servers send
   * rich error details (a `RetryInfo`, ...).
   */
  readonly statusDetails?: Uint8Array;
}

/** Collects spans and metrics exported to it over OTLP/gRPC. */
export class OtlpGrpcReceiver {
  readonly spans: ProtoSpan[] = [];
  readonly metrics: GrpcMetric[] = [];
  /** Export calls received, by gRPC method path. */
  readonly calls: string[] = [];
  /** Metadata of every call received (failed ones included), as a plain object. */
  readonly metadata: Record<string, unknown>[] = [];
  /** Calls answered with a failure (see {@link failNext}). */
  failed = 0;
  readonly #failures: GrpcFailure[] = [];
  /** Requests that could not be decoded, with the reason. */
  readonly rejected: string[] = [];
  readonly #server = new Server();
  #port = 0;

  private constructor() {}

  /** Starts a receiver on a free loopback port. */
  static async start(): Promise<OtlpGrpcReceiver> {
    const receiver = new OtlpGrpcReceiver();
    const traceType = loadTraceTypes().request;
    const metricsType = protobuf.parse(METRICS_SUBSET).root.lookupType('subset.ExportMetricsServiceRequest');
    receiver.#serve('/opentelemetry.proto.collector.trace.v1.TraceService/Export', (body) => {
      receiver.spans.push(...decodeSpans(traceType, body));
    });
    receiver.#serve('/opentelemetry.proto.collector.metrics.v1.MetricsService/Export', (body) => {
      const request = metricsType.toObject(metricsType.decode(body)) as DecodedMetrics;
      for (const rm of request.resourceMetrics ?? []) {
        const service = rm.resource?.attributes?.find((a) => a.key === 'service.name')?.value?.stringValue;
        for (const sm of rm.scopeMetrics ?? []) {
          for (const metric of sm.metrics ?? []) receiver.metrics.push({ name: metric.name, service });
        }
      }
    });
    receiver.#port = await new Promise<number>((resolve, reject) =>
      receiver.#server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) =>
        error ? reject(error) : resolve(port),
      ),
    );
    return receiver;
  }

  /** Serves the `Export` method at `path`, decoding each request with `decode`. */
  #serve(path: string, decode: (body: Buffer) => void): void {
    const handler: handleUnaryCall<Buffer, Buffer> = (call, callback) => {
      this.calls.push(path);
      this.metadata.push(call.metadata.getMap());
      const failure = this.#failures.shift();
      if (failure) {
        this.failed++;
        const trailers = new Metadata();
        if (failure.statusDetails) {
          trailers.set('grpc-status-details-bin', Buffer.from(failure.statusDetails));
        }
        callback({ code: failure.code, details: failure.details ?? '', metadata: trailers });
        return;
      }
      try {
        decode(call.request);
      } catch (error) {
        this.rejected.push((error as Error).message);
      }
      // An empty message is a valid (empty) Export*ServiceResponse.
      callback(null, Buffer.alloc(0));
    };
    this.#server.addService(
      { Export: rawMethod(path) } as ServiceDefinition,
      {
        Export: handler,
      } as UntypedServiceImplementation,
    );
  }

  /** Answers the next `count` calls with `failure` instead of accepting them. */
  failNext(count: number, failure: GrpcFailure): void {
    for (let i = 0; i < count; i++) this.#failures.push(failure);
  }

  /** Base URL to give as OTEL_EXPORTER_OTLP_ENDPOINT (with OTEL_EXPORTER_OTLP_PROTOCOL=grpc). */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Stops the server (in-flight calls are cut). */
  close(): Promise<void> {
    this.#server.forceShutdown();
    return Promise.resolve();
  }
}
