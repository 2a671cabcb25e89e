/**
 * What the receivers answer, encoded as the OTLP specification says: `Export*ServiceResponse` with
 * `partial_success` for refused items, `google.rpc.Status` for refused requests (in the request's
 * encoding over HTTP, the `grpc-status-details-bin` trailer over gRPC, with a `RetryInfo` when a
 * retry may succeed later).
 */
import type { BodyFormat } from './decode.ts';
import { otlpTypes } from './proto.ts';

/** The two OTLP signals the receivers take. */
export type Signal = 'traces' | 'metrics';

/** gRPC status codes the receivers use (google.rpc.Code), in HTTP status bodies too. */
export const GrpcCode = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** Retry-After of a full queue (429, RetryInfo): it drains in well under a second unless evaluation is stuck. */
export const QUEUE_FULL_RETRY_SECONDS = 1;
/** Retry-After of a 503 while shutting down: time for a restarted sidecar to come up. */
export const SHUTDOWN_RETRY_SECONDS = 5;

/** Why a request was refused for a full queue (HTTP 429, gRPC RESOURCE_EXHAUSTED). */
export const QUEUE_FULL_MESSAGE = 'the receiver is busy: its queue of spans to evaluate is full; retry later';

/** Why a request was refused for a full in-flight budget (HTTP 429, gRPC RESOURCE_EXHAUSTED). */
export const BUSY_MESSAGE = 'the receiver is busy: too many requests are being read at once; retry later';

/** `Any.type_url` of a `google.rpc.RetryInfo`. */
export const RETRY_INFO_TYPE_URL = 'type.googleapis.com/google.rpc.RetryInfo';

/** Media type of each body format. */
export const CONTENT_TYPES: Readonly<Record<BodyFormat, string>> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

/** The `Export*ServiceResponse` message (protobufjs object) for a handled request. */
export function exportResponse(signal: Signal, rejected: number, errorMessage: string | undefined): object {
  const types = otlpTypes();
  const type = signal === 'traces' ? types.traceResponse : types.metricsResponse;
  if (rejected === 0 && errorMessage === undefined) return type.create({});
  const count = signal === 'traces' ? 'rejectedSpans' : 'rejectedDataPoints';
  return type.fromObject({ partialSuccess: { [count]: rejected, errorMessage: errorMessage ?? '' } });
}

/** The response message encoded for `signal`, in `format` (JSON: `{}` or `{"partialSuccess":{...}}`). */
export function encodeExportResponse(
  signal: Signal,
  format: BodyFormat,
  message: object,
): Uint8Array | string {
  const types = otlpTypes();
  const type = signal === 'traces' ? types.traceResponse : types.metricsResponse;
  if (format === 'protobuf') return type.encode(message).finish();
  // The JSON mapping writes 64-bit integers as strings.
  return JSON.stringify(type.toObject(message as never, { longs: String }));
}

/** A `google.rpc.Status`, with a `RetryInfo` detail when `retryAfterSeconds` is given. */
function statusMessage(code: number, message: string, retryAfterSeconds?: number): object {
  const types = otlpTypes();
  const details =
    retryAfterSeconds === undefined
      ? []
      : [
          {
            // `type_url`, not camelCased: protobufjs bundles google.protobuf.Any with its proto field names.
            type_url: RETRY_INFO_TYPE_URL,
            value: types.retryInfo
              .encode(types.retryInfo.create({ retryDelay: { seconds: retryAfterSeconds } }))
              .finish(),
          },
        ];
  return types.status.create({ code, message, details });
}

/** An encoded `google.rpc.Status` (the `grpc-status-details-bin` trailer, an HTTP error body). */
export function encodeStatus(code: number, message: string, retryAfterSeconds?: number): Buffer {
  const types = otlpTypes();
  return Buffer.from(types.status.encode(statusMessage(code, message, retryAfterSeconds)).finish());
}

/** An HTTP error body: a `google.rpc.Status` in `format` (JSON: `{"code":3,"message":"..."}`). */
export function statusBody(
  format: BodyFormat,
  code: number,
  message: string,
  retryAfterSeconds?: number,
): Uint8Array | string {
  if (format === 'protobuf') return encodeStatus(code, message, retryAfterSeconds);
  const types = otlpTypes();
  const status = types.status.toObject(statusMessage(code, message, retryAfterSeconds) as never, {
    longs: String,
    bytes: String,
  });
  // The JSON form of Any carries its type as "@type"; RetryInfo is written out in full.
  if (retryAfterSeconds !== undefined) {
    status.details = [{ '@type': RETRY_INFO_TYPE_URL, retryDelay: `${retryAfterSeconds}s` }];
  }
  return JSON.stringify(status);
}
