/**
 * How the forwarder sends one encoded OTLP request: OTLP/HTTP protobuf with `fetch`, or OTLP/gRPC
 * with a grpc-js unary call. A transport only sends and classifies the answer (accepted, partly
 * rejected, refused for good, worth retrying and when); queueing and retrying are the forwarder's.
 */
import { Client, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { z } from 'zod';
import { describeValue, errorText, InvalidArgumentError } from '../shared/errors.ts';
import { HEADER_VALUE, HEADER_VALUE_FORM } from '../shared/headers.ts';
import { accepts } from '../shared/options.ts';
import { VERSION } from '../shared/scope.ts';
import { integerOf } from './attributes.ts';
import { otlpTypes } from './proto.ts';

/** Which OTLP signal a request carries. */
export type ForwardSignal = 'traces' | 'metrics';

/** How one attempt ended. */
export type SendOutcome =
  | {
      readonly ok: true;
      /** Items the upstream refused (`partial_success`), and why. */
      readonly rejected: number;
      readonly message: string | undefined;
    }
  | {
      readonly ok: false;
      /** The forwarder is closing: the attempt was cut. */
      readonly aborted: boolean;
      readonly retryable: boolean;
      /** When the upstream said a retry may succeed (Retry-After, gRPC RetryInfo), ms. */
      readonly retryAfterMs: number | undefined;
      /** What went wrong, without secrets (the caller scrubs upstream text too). */
      readonly error: string;
    };

/** Sends encoded requests to one upstream. */
export interface ForwardTransport {
  /** One attempt; never rejects. `abort` cuts it (closing). */
  send(signal: ForwardSignal, body: Uint8Array, abort: AbortSignal): Promise<SendOutcome>;
  /** Releases connections. */
  close(): void;
}

/** What both transports need. */
export interface TransportSettings {
  /** The endpoint, without user information. */
  readonly endpoint: URL;
  /** The endpoint as logs and errors show it. */
  readonly shown: string;
  /** Headers (HTTP) or metadata (gRPC) sent with every request: names in lower case. */
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
}

/** Most headers the forwarder sends. */
const MAX_HEADERS = 64;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;
/** Headers the transports set themselves, or that HTTP or gRPC reserve. */
const RESERVED_HEADERS = new Set([
  'content-type',
  'content-length',
  'host',
  'connection',
  'transfer-encoding',
  'te',
]);
const HEADER_NAME_FORM =
  'an HTTP header name (token characters), not content-type, content-length, host, connection, transfer-encoding, te, grpc-* or *-bin';

/**
 * Headers (gRPC: metadata) of every forwarded request. Values are secret: never shown in errors.
 * Names a transport sets itself or that HTTP/2 or gRPC reserve are refused, as are binary
 * (`-bin`) metadata names, since values are text.
 */
export const forwardHeadersSchema = z
  .record(
    z.string(),
    accepts(
      z.string().max(8192).regex(HEADER_VALUE),
      `a header value of at most 8192 characters: ${HEADER_VALUE_FORM}`,
      true,
    ),
  )
  .check((ctx) => {
    const names = Object.keys(ctx.value);
    if (names.length > MAX_HEADERS) {
      ctx.issues.push({
        code: 'custom',
        input: ctx.value,
        params: { problem: `has ${names.length} headers`, expected: `at most ${MAX_HEADERS} headers` },
      });
    }
    for (const name of names) {
      const lower = name.toLowerCase();
      if (
        !HEADER_NAME.test(name) ||
        RESERVED_HEADERS.has(lower) ||
        lower.startsWith('grpc-') ||
        lower.endsWith('-bin')
      ) {
        ctx.issues.push({
          code: 'custom',
          input: name,
          path: [name],
          params: { problem: `is the header name ${describeValue(name)}`, expected: HEADER_NAME_FORM },
        });
      }
    }
  });

/**
 * The endpoint without user information (fetch refuses URLs with credentials; they become a Basic
 * `authorization` header), how logs show it, and the secrets it held, to scrub from upstream text.
 */
export function splitEndpoint(text: string): {
  url: URL;
  shown: string;
  basic: string | undefined;
  secrets: string[];
} {
  const url = new URL(text);
  const secrets: string[] = [];
  let basic: string | undefined;
  if (url.username !== '' || url.password !== '') {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    basic = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    secrets.push(url.username, url.password, user, password, basic);
    url.username = '';
    url.password = '';
  }
  return { url, shown: `${url.origin}${url.pathname === '/' ? '' : url.pathname}`, basic, secrets };
}

/** Longest answer body read, bytes: OTLP answers are small; anything past this is not read. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** Longest upstream message kept for an error, characters. */
const MAX_MESSAGE_LENGTH = 200;

const ABORTED: SendOutcome = {
  ok: false,
  aborted: true,
  retryable: false,
  retryAfterMs: undefined,
  error: 'closed',
};

const RETRYABLE_HTTP = new Set([429, 502, 503, 504]);
/**
 * The codes the OTLP specification calls retryable. RESOURCE_EXHAUSTED is not among them: it is
 * retryable only when the status carries a `RetryInfo` (the upstream says it will recover), else
 * it is a refusal (a request too large, a quota spent) that a retry would only repeat.
 */
const RETRYABLE_GRPC = new Set([
  status.CANCELLED,
  status.DEADLINE_EXCEEDED,
  status.ABORTED,
  status.OUT_OF_RANGE,
  status.UNAVAILABLE,
  status.DATA_LOSS,
]);

/** Upstream text made safe to keep: one line, bounded. */
function oneLine(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const flat = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return flat.length > MAX_MESSAGE_LENGTH ? `${flat.slice(0, MAX_MESSAGE_LENGTH)}…` : flat;
}

/** `partial_success` of an encoded Export*ServiceResponse: rejected items and the message. */
function partialSuccess(
  signal: ForwardSignal,
  bytes: Uint8Array,
): { rejected: number; message: string | undefined } {
  if (bytes.length === 0) return { rejected: 0, message: undefined };
  try {
    const type = signal === 'traces' ? otlpTypes().traceResponse : otlpTypes().metricsResponse;
    const answer = type.toObject(type.decode(bytes)) as {
      partialSuccess?: { rejectedSpans?: unknown; rejectedDataPoints?: unknown; errorMessage?: string };
    };
    const partial = answer.partialSuccess;
    const rejected =
      integerOf(signal === 'traces' ? partial?.rejectedSpans : partial?.rejectedDataPoints) ?? 0;
    const message = partial?.errorMessage ? oneLine(partial.errorMessage) : undefined;
    return { rejected: Math.max(0, rejected), message };
  } catch {
    // An accepted request whose answer is not an OTLP response: it was accepted all the same.
    return { rejected: 0, message: undefined };
  }
}

/**
 * The delay a `google.rpc.Status` with a `RetryInfo` detail asks for, ms (0 when it names none);
 * `undefined` when the status carries no RetryInfo or does not decode.
 */
function retryInfoDelay(statusBytes: Uint8Array): number | undefined {
  try {
    const { status: statusType, retryInfo } = otlpTypes();
    // protobufjs defines google.protobuf.Any itself, with its field named as in the .proto
    // (`type_url`): the `keepCase: false` of the OTLP files does not apply to it.
    const decoded = statusType.toObject(statusType.decode(statusBytes)) as {
      details?: { type_url?: string; value?: Uint8Array }[];
    };
    const detail = decoded.details?.find((d) => d.type_url?.endsWith('/google.rpc.RetryInfo'));
    if (detail === undefined) return undefined;
    const info = retryInfo.toObject(retryInfo.decode(detail.value ?? new Uint8Array(0))) as {
      retryDelay?: { seconds?: unknown; nanos?: number };
    };
    if (info.retryDelay === undefined) return 0;
    const ms = (integerOf(info.retryDelay.seconds) ?? 0) * 1000 + (info.retryDelay.nanos ?? 0) / 1e6;
    return Number.isFinite(ms) ? Math.max(0, ms) : 0;
  } catch {
    return undefined;
  }
}

/** `Retry-After` (seconds, or an HTTP date), ms. */
function retryAfterOf(header: string | null): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** At most {@link MAX_ANSWER_BYTES} of a response body (the rest is not read). */
async function readAnswer(response: Response): Promise<Uint8Array> {
  const reader = response.body?.getReader();
  if (reader === undefined) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.length;
      if (size >= MAX_ANSWER_BYTES) {
        await reader.cancel();
        break;
      }
    }
  } catch {
    // A body cut short: what arrived is all there is to read.
  }
  return Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES);
}

/** The upstream's reason for a refusal: a `google.rpc.Status` message, or the body's text. */
function refusalMessage(contentType: string | null, body: Uint8Array): string {
  if (body.length === 0) return '';
  if (contentType?.includes('protobuf')) {
    try {
      const type = otlpTypes().status;
      return oneLine(String((type.toObject(type.decode(body)) as { message?: string }).message ?? ''));
    } catch {
      return '';
    }
  }
  return oneLine(Buffer.from(body).toString('utf8'));
}

/** OTLP/HTTP protobuf: `POST <endpoint>/v1/traces` (or `/v1/metrics`). */
export function httpTransport(settings: TransportSettings): ForwardTransport {
  const urlOf = (path: string) => {
    const url = new URL(settings.endpoint);
    url.pathname = `${url.pathname.replace(/\/+$/, '')}/${path}`;
    return url.toString();
  };
  const urls: Record<ForwardSignal, string> = { traces: urlOf('v1/traces'), metrics: urlOf('v1/metrics') };
  const headers = {
    ...settings.headers,
    'content-type': 'application/x-protobuf',
    'user-agent': `perf-sidecar/${VERSION}`,
  };
  const where = (signal: ForwardSignal) => `${settings.shown.replace(/\/+$/, '')}/v1/${signal}`;
  return {
    async send(signal, body, abort) {
      if (abort.aborted) return ABORTED;
      let response: Response;
      try {
        response = await fetch(urls[signal], {
          method: 'POST',
          headers,
          body,
          // A redirect would carry the headers (an API key) to wherever it points.
          redirect: 'manual',
          signal: AbortSignal.any([abort, AbortSignal.timeout(settings.timeoutMs)]),
        });
      } catch (error) {
        if (abort.aborted) return ABORTED;
        const timedOut = error instanceof Error && error.name === 'TimeoutError';
        const cause = error instanceof Error && error.cause !== undefined ? error.cause : error;
        return {
          ok: false,
          aborted: false,
          retryable: true,
          retryAfterMs: undefined,
          error: timedOut
            ? `${where(signal)} did not answer within ${settings.timeoutMs} ms`
            : `cannot reach ${where(signal)}: ${errorText(cause)}`,
        };
      }
      const answer = await readAnswer(response);
      if (abort.aborted && !response.ok) return ABORTED;
      if (response.ok) {
        // Only a protobuf answer is an Export*ServiceResponse; another body says nothing about partial success.
        const protobuf = response.headers.get('content-type')?.includes('protobuf') ?? false;
        return { ok: true, ...partialSuccess(signal, protobuf ? answer : new Uint8Array(0)) };
      }
      const reason = refusalMessage(response.headers.get('content-type'), answer);
      const retryable = RETRYABLE_HTTP.has(response.status);
      return {
        ok: false,
        aborted: false,
        retryable,
        retryAfterMs: retryable ? retryAfterOf(response.headers.get('retry-after')) : undefined,
        error: `${where(signal)} answered HTTP ${response.status}${reason === '' ? '' : `: ${reason}`}`,
      };
    },
    close() {
      // fetch's connections are pooled by Node and closed when idle.
    },
  };
}

const GRPC_PATHS: Record<ForwardSignal, string> = {
  traces: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  metrics: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
};

/** OTLP/gRPC: a unary `Export` call to the endpoint's host and port (TLS for `https://`). */
export function grpcTransport(settings: TransportSettings): ForwardTransport {
  const { endpoint } = settings;
  const secure = endpoint.protocol === 'https:';
  const target = `${endpoint.hostname}:${endpoint.port || (secure ? '443' : '80')}`;
  const metadata = new Metadata();
  for (const [name, value] of Object.entries(settings.headers)) {
    try {
      metadata.set(name, value);
    } catch {
      // grpc-js's own error quotes the value (an API key): only the name may be shown.
      throw new InvalidArgumentError(
        `options.headers.${name}`,
        `is the header ${describeValue(name)}, which gRPC metadata cannot carry (value hidden)`,
        'a name of a-z 0-9 - _ . characters and a value of visible ASCII characters and spaces (no tabs)',
      );
    }
  }
  // Made once the metadata is known to be valid: a refused header leaves no channel behind.
  const client = new Client(target, secure ? credentials.createSsl() : credentials.createInsecure(), {
    // The forwarder retries on its own terms (bounded, counted): no second layer of retries.
    'grpc.enable_retries': 0,
    'grpc.primary_user_agent': `perf-sidecar/${VERSION}`,
  });
  const serialize = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const deserialize = (bytes: Buffer) => bytes;
  return {
    send(signal, body, abort) {
      if (abort.aborted) return Promise.resolve(ABORTED);
      return new Promise<SendOutcome>((resolve) => {
        const onAbort = () => call.cancel();
        const call = client.makeUnaryRequest(
          GRPC_PATHS[signal],
          serialize,
          deserialize,
          body,
          metadata.clone(),
          { deadline: Date.now() + settings.timeoutMs },
          (error: ServiceError | null, value?: Buffer) => {
            abort.removeEventListener('abort', onAbort);
            if (error === null) {
              resolve({ ok: true, ...partialSuccess(signal, value ?? new Uint8Array(0)) });
              return;
            }
            if (abort.aborted) {
              resolve(ABORTED);
              return;
            }
            const details = error.metadata?.get('grpc-status-details-bin')[0];
            const retryAfterMs = details instanceof Buffer ? retryInfoDelay(details) : undefined;
            const retryable =
              RETRYABLE_GRPC.has(error.code) ||
              (error.code === status.RESOURCE_EXHAUSTED && retryAfterMs !== undefined);
            const name = status[error.code] ?? String(error.code);
            resolve({
              ok: false,
              aborted: false,
              retryable,
              retryAfterMs: retryable ? retryAfterMs : undefined,
              error:
                error.code === status.DEADLINE_EXCEEDED
                  ? `${settings.shown} (gRPC) did not answer within ${settings.timeoutMs} ms`
                  : `${settings.shown} (gRPC) answered ${name}${error.details ? `: ${oneLine(error.details)}` : ''}`,
            });
          },
        );
        abort.addEventListener('abort', onAbort, { once: true });
      });
    },
    close() {
      client.close();
    },
  };
}
