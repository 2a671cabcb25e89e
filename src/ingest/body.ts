/**
 * Reading an OTLP/HTTP request body: identity or gzip, bounded after decompression as it streams,
 * within a deadline. A gzip bomb stops at the limit: the decompressed bytes are counted chunk by
 * chunk, and the streams are destroyed the moment the count passes it, so a request never holds
 * more than the limit (plus one zlib chunk) in memory. The request's reservation of the in-flight
 * budget grows with the decompressed bytes; when the budget has no room for them, reading stops too.
 */
import type { IncomingMessage } from 'node:http';
import { createGunzip, type Gunzip } from 'node:zlib';
import { RESERVATION_STEP_BYTES, type Reservation } from './budget.ts';
import { BUSY_MESSAGE } from './responses.ts';

/** How a body is compressed, from `Content-Encoding`. */
export type BodyEncoding = 'gzip' | 'identity';

/** Why a body was not read; the receiver answers with {@link BodyError.status}. */
export type BodyProblem = 'tooLarge' | 'timeout' | 'badGzip' | 'aborted' | 'busy';

/** A body that could not be read; the message says why, without echoing the body. */
export class BodyError extends Error {
  /** HTTP status to answer with. */
  readonly status: 400 | 408 | 413 | 429;
  /** What went wrong, for the refusal counters. */
  readonly problem: BodyProblem;

  constructor(problem: BodyProblem, status: 400 | 408 | 413 | 429, message: string) {
    super(message);
    this.name = 'BodyError';
    this.problem = problem;
    this.status = status;
  }
}

/** Byte counters the reads add to (shared by all requests of a receiver). */
export interface BodyCounters {
  /** Bytes read off the wire (compressed, for gzip bodies). */
  wireBytes: number;
  /** Body bytes after decompression, including those of refused bodies up to where reading stopped. */
  bodyBytes: number;
}

/** Limits of one read. */
export interface BodyLimits {
  /** Most bytes, on the wire and after decompression. */
  readonly maxBytes: number;
  /** Longest the whole body may take to arrive, ms. */
  readonly timeoutMs: number;
  /** The request's share of the in-flight budget, grown as the body turns out larger than it. */
  readonly reservation?: Pick<Reservation, 'bytes' | 'growTo'>;
}

/** Output chunk of the gunzip stream: the most a read can overshoot the limit by. */
const GUNZIP_CHUNK_BYTES = 16 * 1024;

/**
 * Grows `reservation` to hold `size` bytes: to the next step (so that it grows every few reads, not
 * every read), else, short of room for that, to `size` itself. `false` when even that does not fit.
 */
function grow(reservation: Pick<Reservation, 'growTo'>, size: number, maxBytes: number): boolean {
  const stepped = Math.min(maxBytes, Math.ceil(size / RESERVATION_STEP_BYTES) * RESERVATION_STEP_BYTES);
  return reservation.growTo(stepped) || reservation.growTo(size);
}

/**
 * The encoding named by a `Content-Encoding` value, or `undefined` for one the receivers do not
 * accept (only gzip, as the OTLP specification requires, and identity).
 */
export function encodingOf(header: string | undefined): BodyEncoding | undefined {
  if (header === undefined) return 'identity';
  const value = header.trim().toLowerCase();
  if (value === '' || value === 'identity') return 'identity';
  return value === 'gzip' ? 'gzip' : undefined;
}

/**
 * Reads the body of `req`, decompressed.
 *
 * @throws {BodyError} over the limit (413), past the deadline (408), not gzip (400), no room in the
 * in-flight budget for what has arrived (429), or cut off by the client (400, nobody left to answer). The request is then no longer read: the caller answers
 * and decides what becomes of the rest of it.
 */
export function readBody(
  req: IncomingMessage,
  encoding: BodyEncoding,
  limits: BodyLimits,
  counters: BodyCounters,
): Promise<Buffer> {
  const { maxBytes, reservation } = limits;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let wire = 0;
    let settled = false;
    const gunzip: Gunzip | undefined =
      encoding === 'gzip' ? createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES }) : undefined;

    const cleanup = () => {
      settled = true;
      clearTimeout(timer);
      req.off('data', onWire);
      req.off('end', onWireEnd);
      req.off('close', onClose);
      req.off('error', onClose);
      if (gunzip) {
        gunzip.off('data', onBody);
        gunzip.off('end', onBodyEnd);
        gunzip.destroy();
      }
    };
    const fail = (error: BodyError) => {
      if (settled) return;
      cleanup();
      chunks.length = 0;
      reject(error);
    };
    const tooLarge = () =>
      fail(
        new BodyError(
          'tooLarge',
          413,
          `the request body is larger than ${maxBytes} bytes (after decompression)`,
        ),
      );

    const onBody = (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      counters.bodyBytes += chunk.length;
      if (size > maxBytes) return tooLarge();
      if (reservation && size > reservation.bytes && !grow(reservation, size, maxBytes)) {
        return fail(new BodyError('busy', 429, BUSY_MESSAGE));
      }
      chunks.push(chunk);
    };
    const onBodyEnd = () => {
      if (settled) return;
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onWire = (chunk: Buffer) => {
      if (settled) return;
      wire += chunk.length;
      counters.wireBytes += chunk.length;
      if (wire > maxBytes) return tooLarge();
      if (!gunzip) return onBody(chunk);
      // Backpressure: a fast sender waits for decompression instead of filling memory.
      if (!gunzip.write(chunk)) {
        req.pause();
        gunzip.once('drain', () => {
          if (!settled) req.resume();
        });
      }
    };
    const onWireEnd = () => {
      if (gunzip) gunzip.end();
      else onBodyEnd();
    };
    const onClose = () => {
      if (!req.complete) fail(new BodyError('aborted', 400, 'the request body was cut off before its end'));
    };

    const timer = setTimeout(
      () =>
        fail(new BodyError('timeout', 408, `the request body did not arrive within ${limits.timeoutMs} ms`)),
      limits.timeoutMs,
    );
    if (gunzip) {
      gunzip.on('data', onBody);
      gunzip.on('end', onBodyEnd);
      gunzip.on('error', (error: Error) =>
        fail(
          new BodyError(
            'badGzip',
            400,
            `the body is not valid gzip (Content-Encoding: gzip): ${error.message}`,
          ),
        ),
      );
    }
    req.on('data', onWire);
    req.on('end', onWireEnd);
    req.on('close', onClose);
    req.on('error', onClose);
  });
}
