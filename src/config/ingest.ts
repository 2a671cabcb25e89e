/**
 * The variables of the OTLP receivers (`src/ingest`): where they listen, what they accept, what
 * they keep while evaluating, the target rules file, and where received traces are forwarded.
 * Part of {@link SETTINGS} as its `ingest` group.
 */
import { accepts, integer } from '../shared/options.ts';
import { secretUrl } from '../shared/urls.ts';
import { booleanText, filePathText, headersText, oneOfText, patternText, wholeNumberText } from './text.ts';
import { variable } from './variable.ts';

/** Transports the forwarder can send with. */
export const FORWARD_PROTOCOLS = ['http/protobuf', 'grpc'] as const;
/** One of {@link FORWARD_PROTOCOLS}. */
export type ForwardProtocol = (typeof FORWARD_PROTOCOLS)[number];

/** Largest request body (after decompression) the receivers may be set to accept: 256 MiB. */
export const MAX_INGEST_BODY_BYTES = 256 * 1024 * 1024;

const forwardEndpointText = secretUrl((p) => p === 'http:' || p === 'https:', 'token');

/** The `ingest` group of the configuration. */
export const INGEST_SETTINGS = {
  /** `PERF_INGEST` */
  enabled: variable(
    'PERF_INGEST',
    booleanText,
    true,
    'The sidecar process (npm start) starts its OTLP receivers; false: none, and it reports on itself only.',
  ),
  /** `OTLP_HTTP_PORT` */
  httpPort: variable(
    'OTLP_HTTP_PORT',
    wholeNumberText(integer(0, 65_535), '0 picks a free port'),
    4318,
    'OTLP/HTTP receiver port (POST /v1/traces, /v1/metrics), on HOST.',
  ),
  /** `OTLP_GRPC_PORT` */
  grpcPort: variable(
    'OTLP_GRPC_PORT',
    wholeNumberText(integer(0, 65_535), '0 picks a free port'),
    4317,
    'OTLP/gRPC receiver port (trace and metrics services), on HOST.',
  ),
  /** `PERF_INGEST_TOKEN` */
  token: variable(
    'PERF_INGEST_TOKEN',
    patternText(
      /^(?=.{16,512}$)[A-Za-z0-9._~+/-]+=*$/,
      'is not 16 to 512 bearer-token characters',
      '16 to 512 characters of A-Z a-z 0-9 - . _ ~ + / (then optional = padding): an RFC 6750 bearer token',
    ),
    undefined as string | undefined,
    'When set, the receivers require Authorization: Bearer <token> (exporters send it with OTEL_EXPORTER_OTLP_HEADERS).',
    { shown: 'unset (no auth)', secret: true },
  ),
  /** `PERF_INGEST_MAX_BODY_BYTES` */
  maxBodyBytes: variable(
    'PERF_INGEST_MAX_BODY_BYTES',
    wholeNumberText(integer(1024, MAX_INGEST_BODY_BYTES, 'bytes')),
    20 * 1024 * 1024,
    'Largest OTLP request, after decompression; past it HTTP answers 413 and gRPC RESOURCE_EXHAUSTED.',
  ),
  /** `PERF_INGEST_QUEUE_SPANS` */
  queueSpans: variable(
    'PERF_INGEST_QUEUE_SPANS',
    wholeNumberText(integer(100, 10_000_000)),
    100_000,
    'Spans accepted but not yet evaluated; a request that would pass it is answered 429 with Retry-After (gRPC RESOURCE_EXHAUSTED with RetryInfo).',
  ),
  /** `PERF_INGEST_QUEUE_BYTES` */
  queueBytes: variable(
    'PERF_INGEST_QUEUE_BYTES',
    wholeNumberText(integer(1024 * 1024, 16 * 1024 * 1024 * 1024, 'bytes')),
    256 * 1024 * 1024,
    'Memory the decoded requests accepted but not yet evaluated may take, as estimated (twice the body, plus about 1.5 KiB a span and 160 bytes an attribute, event or link; an empty queue takes any request); past it requests are refused as when the span queue is full.',
  ),
  /** `PERF_INGEST_MAX_INFLIGHT_BYTES` */
  maxInflightBytes: variable(
    'PERF_INGEST_MAX_INFLIGHT_BYTES',
    wholeNumberText(integer(1024 * 1024, 64 * 1024 * 1024 * 1024, 'bytes')),
    undefined as number | undefined,
    'Request bodies being read at once, both receivers together (each reserves its Content-Length when uncompressed, else PERF_INGEST_MAX_BODY_BYTES, before it is read); past it requests are answered 429 with Retry-After (gRPC RESOURCE_EXHAUSTED with RetryInfo) without being read. Never below PERF_INGEST_MAX_BODY_BYTES.',
    { shown: '4 x PERF_INGEST_MAX_BODY_BYTES (80 MiB with its default)' },
  ),
  /** `PERF_MAX_SERVICES` */
  maxServices: variable(
    'PERF_MAX_SERVICES',
    wholeNumberText(integer(1, 10_000)),
    100,
    'Distinct service.name values reported on their own; later services report as _other (with one warning).',
  ),
  /** `PERF_RULES_FILE` */
  rulesFile: variable(
    'PERF_RULES_FILE',
    filePathText,
    undefined as string | undefined,
    'Target rules (YAML or JSON) for spans without perf.target_seconds; reloaded on SIGHUP and when the file changes.',
    { shown: 'unset (no rules)' },
  ),
  /** Forwarding of received traces, annotated with the verdicts. */
  forward: {
    /** `OTLP_FORWARD_ENDPOINT` */
    endpoint: variable(
      'OTLP_FORWARD_ENDPOINT',
      accepts(
        forwardEndpointText,
        'an http:// or https:// base URL, for example http://collector:4318',
        true,
      ),
      undefined as string | undefined,
      'Where received traces and metrics go on to (a Collector), spans annotated with their verdicts: HTTP sends to its /v1/traces and /v1/metrics, gRPC to the URL itself.',
      { shown: 'unset (received traces are evaluated, not forwarded)', secret: true },
    ),
    /** `OTLP_FORWARD_PROTOCOL` */
    protocol: variable(
      'OTLP_FORWARD_PROTOCOL',
      oneOfText(FORWARD_PROTOCOLS),
      'http/protobuf' as ForwardProtocol,
      'Transport of the forwarded traces.',
    ),
    /** `OTLP_FORWARD_HEADERS` */
    headers: variable(
      'OTLP_FORWARD_HEADERS',
      headersText,
      {} as Readonly<Record<string, string>>,
      'Headers sent with every forwarded request (for example an API key). Never logged.',
      { shown: 'unset', secret: true },
    ),
    /** `OTLP_FORWARD_QUEUE_SPANS` */
    queueSpans: variable(
      'OTLP_FORWARD_QUEUE_SPANS',
      wholeNumberText(integer(100, 10_000_000)),
      100_000,
      'Spans waiting to be forwarded; past it the oldest requests are dropped and counted.',
    ),
    /** `OTLP_FORWARD_QUEUE_BYTES` */
    queueBytes: variable(
      'OTLP_FORWARD_QUEUE_BYTES',
      wholeNumberText(integer(1024 * 1024, 16 * 1024 * 1024 * 1024, 'bytes')),
      64 * 1024 * 1024,
      'Encoded request bytes waiting to be forwarded; past it the oldest requests are dropped and counted.',
    ),
    /** `OTLP_FORWARD_TIMEOUT_MS` */
    timeoutMs: variable(
      'OTLP_FORWARD_TIMEOUT_MS',
      wholeNumberText(integer(100, 120_000, 'milliseconds')),
      10_000,
      'Longest one forwarding request may take.',
    ),
  },
};
