/**
 * The OTLP message types, loaded once from the `.proto` definitions shipped in `proto/` (see
 * `proto/README.md`) with protobufjs: decoding and encoding use a maintained protobuf library, no
 * hand-written wire parsing.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as Protobuf from 'protobufjs';
import type { Type } from 'protobufjs';

/** `proto/` at the package root: two levels above both `src/ingest/` and `dist/ingest/`. */
const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));

/** The OTLP request and response types the receivers and the forwarder use. */
export interface OtlpTypes {
  readonly traceRequest: Type;
  readonly traceResponse: Type;
  readonly metricsRequest: Type;
  readonly metricsResponse: Type;
  /** `google.rpc.Status`, the body of a refused OTLP/HTTP request. */
  readonly status: Type;
  /** `google.rpc.RetryInfo`, in a status's details when a retry may succeed later. */
  readonly retryInfo: Type;
}

let loaded: OtlpTypes | undefined;

/**
 * The OTLP types (parsed on first use, a few milliseconds, then shared). protobufjs itself is
 * loaded here too, not when the receivers start: a sidecar whose receivers get no request carries
 * neither the library nor the parsed definitions. `require`, because the receivers' paths that
 * need the types are synchronous; protobufjs is CommonJS, so this is the module `import` would load.
 */
export function otlpTypes(): OtlpTypes {
  if (loaded) return loaded;
  const protobuf = createRequire(import.meta.url)('protobufjs') as typeof Protobuf;
  const root = new protobuf.Root();
  // Imports are written from the proto root (`opentelemetry/proto/...`), as upstream lays them out;
  // `google/protobuf/*` resolves to the definitions bundled with protobufjs.
  root.resolvePath = (_origin, target) => PROTO_DIR + target;
  root.loadSync(
    [
      'opentelemetry/proto/collector/trace/v1/trace_service.proto',
      'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
      'google/rpc/status.proto',
    ],
    { keepCase: false },
  );
  root.resolveAll();
  loaded = Object.freeze({
    traceRequest: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest'),
    traceResponse: root.lookupType('opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse'),
    metricsRequest: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest'),
    metricsResponse: root.lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse'),
    status: root.lookupType('google.rpc.Status'),
    retryInfo: root.lookupType('google.rpc.RetryInfo'),
  });
  return loaded;
}
