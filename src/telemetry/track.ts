/**
 * Operation tracking: `trackOperation` and the `monitored` wrapper/decorator.
 *
 * Each tracked operation is an active OpenTelemetry span carrying its resolved target
 * (`perf.target_seconds`); the target span processor does the evaluation when the span ends, so a
 * tracked operation and a hand-made span with the same attribute are treated alike.
 */
import v8 from 'node:v8';
import {
  type Attributes,
  context,
  INVALID_SPAN_CONTEXT,
  type Span,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { checkOptionalId, describeValue, InvalidArgumentError } from '../shared/errors.ts';
import { activeCorrelationId } from './correlation.ts';
import { MAX_TARGET_SECONDS, OPERATION_NAME_FORM, operationNameProblem } from './operations.ts';
import {
  ATTR_CORRELATION_ID,
  ATTR_PERF_CPU_SECONDS,
  ATTR_PERF_KIND,
  ATTR_PERF_MEMORY_DELTA_MB,
  ATTR_PERF_OPERATION,
  ATTR_PERF_TARGET_SECONDS,
  ATTR_USER_ID,
} from './semconv.ts';
import { trackingState } from './state.ts';
import { resolveTarget } from './targets.ts';

/** Options of {@link trackOperation} and {@link monitored}. */
export interface OperationOptions {
  /** Target for this call, seconds. Wins over the table. */
  readonly targetSeconds?: number;
  /**
   * Kind of operation (`ai_operation`, `simple_query`, ...). Recorded as `perf.kind` and used to find
   * a target when the operation name has no entry of its own.
   */
  readonly kind?: string;
  /**
   * Correlation id of the request or job (`correlation.id`; copied into alerts). Default: the active
   * one (set by the performance middleware for the request being handled).
   */
  readonly correlationId?: string;
  /** User the operation runs for (`user.id`; copied into alerts). */
  readonly userId?: string | number;
  /** Extra span attributes. `perf.*`, `correlation.id` and `user.id` are set by perf-sidecar and win. */
  readonly attributes?: Attributes;
  /**
   * Whether to measure heap and CPU deltas (`memoryDeltaMb`, `cpuSeconds`, and the span attributes
   * `perf.memory_delta_mb`, `perf.cpu_seconds`). `true` or `false` decides. Default: only for an
   * operation whose resolved target is at least {@link MEASURE_RESOURCES_MIN_TARGET_SECONDS}
   * (10 ms). Measuring costs about 2.7 µs per operation (two `process.cpuUsage()` calls, about
   * 0.9 µs each, and two `v8.getHeapStatistics()` calls, about 0.45 µs each): noise for an
   * operation allowed 10 ms or more, but more than the rest of the tracking for a short one.
   */
  readonly measureResources?: boolean;
}

/**
 * Handed to the tracked function. Its figures are filled in when the operation ends, so a caller
 * can print them afterwards. With monitoring disabled they stay 0.
 */
export interface OperationHandle {
  /** Operation name. */
  readonly name: string;
  /** Resolved target, seconds, or `undefined` when the operation has none. */
  readonly targetSeconds: number | undefined;
  /** The operation's span (non-recording when no SDK is running). */
  readonly span: Span;
  /** Duration, seconds (the span's duration). */
  readonly durationSeconds: number;
  /** Change of V8 heap used over the operation, MiB (may be negative after a GC). */
  readonly memoryDeltaMb: number;
  /** Process CPU time (user + system, all threads) used during the operation, seconds. */
  readonly cpuSeconds: number;
  /** Whether the operation took longer than its target. */
  readonly targetExceeded: boolean;
  /** Whether the operation has ended. */
  readonly ended: boolean;
}

/**
 * Shortest resolved target, seconds, for which `trackOperation` measures heap and CPU deltas
 * unless told otherwise (`measureResources`): the measurement's 2.7 µs is under 0.03 % of 10 ms,
 * and below that the deltas mostly show the measurement's own noise (GC, other threads' CPU).
 * Operations without a target are not measured unless asked to be.
 */
export const MEASURE_RESOURCES_MIN_TARGET_SECONDS = 0.01;

/** The span handed out when monitoring is disabled: non-recording, shared. */
const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
const MIB = 1024 * 1024;

function checkOptions(name: unknown, options: OperationOptions | undefined): void {
  const problem = operationNameProblem(name);
  if (problem)
    throw new InvalidArgumentError('name', `${describeValue(name)} ${problem}`, OPERATION_NAME_FORM);
  if (options === undefined) return;
  if (typeof options !== 'object' || options === null) {
    throw new InvalidArgumentError('options', `is ${describeValue(options)}`, 'an object or undefined');
  }
  const t = options.targetSeconds;
  if (t !== undefined && (typeof t !== 'number' || !Number.isFinite(t) || t <= 0 || t > MAX_TARGET_SECONDS)) {
    throw new InvalidArgumentError(
      'options.targetSeconds',
      `is ${describeValue(t)}`,
      `a number of seconds greater than 0, at most ${MAX_TARGET_SECONDS}`,
    );
  }
  if (options.kind !== undefined) {
    const kindProblem = operationNameProblem(options.kind);
    if (kindProblem) {
      throw new InvalidArgumentError(
        'options.kind',
        `${describeValue(options.kind)} ${kindProblem}`,
        OPERATION_NAME_FORM,
      );
    }
  }
  if (
    options.attributes !== undefined &&
    (typeof options.attributes !== 'object' || options.attributes === null)
  ) {
    throw new InvalidArgumentError(
      'options.attributes',
      `is ${describeValue(options.attributes)}`,
      'an object of attributes',
    );
  }
}

/**
 * Runs `fn` as a tracked operation: inside an active span named `name` that carries
 * `perf.operation`, `perf.target_seconds` (the resolved target), `perf.kind`, `correlation.id` and
 * `user.id`. An exception is recorded on the span, the status set to ERROR and the exception
 * rethrown unchanged. Returns what `fn` returns (a promise is awaited before the span ends; a plain
 * value ends it at once).
 *
 * Target resolution, first match wins: `options.targetSeconds`, the table entry for `name`, the table
 * entry for `options.kind`, none (traced, never alerted).
 *
 * @param name operation name: 1 to 128 printable characters.
 * @param options see {@link OperationOptions}.
 * @param fn the work; receives an {@link OperationHandle} whose figures are filled when it ends.
 * @throws {InvalidArgumentError} before running `fn` when an argument is invalid.
 * @example
 * const layout = await trackOperation('layout_generation', { userId }, async (op) => {
 *   const result = await generate();
 *   return result;
 * });
 */
export function trackOperation<T>(name: string, fn: (operation: OperationHandle) => T): T;
export function trackOperation<T>(
  name: string,
  options: OperationOptions | undefined,
  fn: (operation: OperationHandle) => T,
): T;
export function trackOperation<T>(
  name: string,
  optionsOrFn: OperationOptions | undefined | ((operation: OperationHandle) => T),
  maybeFn?: (operation: OperationHandle) => T,
): T {
  const fn = typeof optionsOrFn === 'function' ? optionsOrFn : maybeFn;
  const options = typeof optionsOrFn === 'function' ? undefined : optionsOrFn;
  if (typeof fn !== 'function') {
    throw new InvalidArgumentError('fn', `is ${describeValue(fn)}`, 'the function to run');
  }
  checkOptions(name, options);
  const correlationId =
    checkOptionalId('options.correlationId', options?.correlationId) ?? activeCorrelationId();
  const userId = checkOptionalId('options.userId', options?.userId);

  const state = trackingState();
  if (!state.enabled) return fn(disabledHandle(name));

  const target = resolveTarget(state.targets, name, options?.kind, options?.targetSeconds);
  const attributes: Attributes = { ...options?.attributes, [ATTR_PERF_OPERATION]: name };
  if (target !== undefined) attributes[ATTR_PERF_TARGET_SECONDS] = target;
  if (options?.kind !== undefined) attributes[ATTR_PERF_KIND] = options.kind;
  if (correlationId !== undefined) attributes[ATTR_CORRELATION_ID] = correlationId;
  if (userId !== undefined) attributes[ATTR_USER_ID] = userId;
  const measure =
    options?.measureResources ?? (target !== undefined && target >= MEASURE_RESOURCES_MIN_TARGET_SECONDS);

  // startActiveSpan, unrolled: the run is the handle and carries its own state, so no closure is
  // made per call (the SDK's startActiveSpan does exactly this with one).
  const parent = context.active();
  const span = state.tracer.startSpan(name, { attributes }, parent);
  const run = new TrackedRun(name, target, span, measure);
  return context.with(trace.setSpan(parent, span), runTracked<T>, undefined, run, fn);
}

/** Runs `fn` inside its span (the active one) and ends the run when `fn` has settled. */
function runTracked<T>(run: TrackedRun, fn: (operation: OperationHandle) => T): T {
  let result: T;
  try {
    result = fn(run);
  } catch (error) {
    run.finish(error, true);
    throw error;
  }
  if (isPromiseLike(result)) {
    return result.then(
      (value) => {
        run.finish(undefined, false);
        return value;
      },
      (error: unknown) => {
        run.finish(error, true);
        throw error;
      },
    ) as T;
  }
  run.finish(undefined, false);
  return result;
}

/** One tracked operation: the handle given to its function, and what `finish` needs. */
class TrackedRun implements OperationHandle {
  readonly name: string;
  readonly targetSeconds: number | undefined;
  readonly span: Span;
  durationSeconds = 0;
  memoryDeltaMb = 0;
  cpuSeconds = 0;
  targetExceeded = false;
  ended = false;
  // Private: the handle shows (and spreads, and serialises) as the documented fields only.
  readonly #startHeap: number;
  readonly #startCpu: NodeJS.CpuUsage | undefined;
  readonly #startMs: number;

  constructor(name: string, target: number | undefined, span: Span, measure: boolean) {
    this.name = name;
    this.targetSeconds = target;
    this.span = span;
    this.#startHeap = measure ? v8.getHeapStatistics().used_heap_size : 0;
    this.#startCpu = measure ? process.cpuUsage() : undefined;
    this.#startMs = performance.now();
  }

  finish(error: unknown, failed: boolean): void {
    const span = this.span;
    if (this.#startCpu) {
      const cpu = process.cpuUsage(this.#startCpu);
      this.cpuSeconds = (cpu.user + cpu.system) / 1e6;
      this.memoryDeltaMb = (v8.getHeapStatistics().used_heap_size - this.#startHeap) / MIB;
      span.setAttribute(ATTR_PERF_CPU_SECONDS, this.cpuSeconds);
      span.setAttribute(ATTR_PERF_MEMORY_DELTA_MB, Math.round(this.memoryDeltaMb * 1000) / 1000);
    }
    if (failed) {
      if (error instanceof Error || typeof error === 'string') span.recordException(error);
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message:
          error instanceof Error ? error.message : typeof error === 'string' ? error : 'operation failed',
      });
    }
    span.end();
    // The SDK span's own duration, so the handle agrees with what the processor judged.
    const duration = (span as Partial<ReadableSpan>).duration;
    this.durationSeconds =
      duration && duration[0] >= 0
        ? duration[0] + duration[1] / 1e9
        : (performance.now() - this.#startMs) / 1000;
    this.targetExceeded = this.targetSeconds !== undefined && this.durationSeconds > this.targetSeconds;
    this.ended = true;
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === 'object' || typeof value === 'function') &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

function disabledHandle(name: string): OperationHandle {
  return {
    name,
    targetSeconds: undefined,
    span: NO_SPAN,
    durationSeconds: 0,
    memoryDeltaMb: 0,
    cpuSeconds: 0,
    targetExceeded: false,
    ended: false,
  };
}

/** Any function; `monitored` keeps its exact type. */
// biome-ignore lint/suspicious/noExplicitAny: a generic function wrapper must accept every signature
type AnyFunction = (this: any, ...args: any[]) => any;

/** What {@link monitored} returns: a function wrapper that is also a standard method decorator. */
export interface MonitoredWrapper {
  /** Wraps a function: each call runs as a tracked operation. */
  <F extends AnyFunction>(fn: F): F;
  /** TypeScript standard (TC39) method decorator form. */
  <F extends AnyFunction>(fn: F, context: ClassMethodDecoratorContext): F;
}

/**
 * Wraps a sync or async function so that every call runs through {@link trackOperation}. Also a
 * TypeScript standard decorator for methods; the name defaults to the method name there.
 *
 * @param name operation name (default: the function's or method's name).
 * @param options as for {@link trackOperation}, applied to every call.
 * @example
 * const ocr = monitored('document_ocr')(async (file: Buffer) => runOcr(file));
 *
 * class Layouts {
 *   \@monitored('layout_generation', { kind: 'ai_operation' })
 *   async generate(spec: Spec) { ... }
 * }
 */
export function monitored(name?: string, options?: OperationOptions): MonitoredWrapper {
  if (name !== undefined) checkOptions(name, options);
  else if (options !== undefined) checkOptions('anonymous', options);
  const wrap = <F extends AnyFunction>(fn: F, context?: ClassMethodDecoratorContext): F => {
    if (typeof fn !== 'function') {
      throw new InvalidArgumentError('fn', `is ${describeValue(fn)}`, 'a function or method to wrap');
    }
    const operation = name ?? (context ? String(context.name) : fn.name);
    const problem = operationNameProblem(operation);
    if (problem) {
      throw new InvalidArgumentError('name', `${describeValue(operation)} ${problem}`, OPERATION_NAME_FORM);
    }
    const wrapped = function (this: unknown, ...args: unknown[]) {
      return trackOperation(operation, options, () => fn.apply(this, args));
    };
    Object.defineProperty(wrapped, 'name', { value: fn.name, configurable: true });
    return wrapped as F;
  };
  return wrap as MonitoredWrapper;
}
