/**
 * Runtime figures of watched services, from the OTLP metrics they send (`/v1/metrics`): per
 * resource `service.name`, the latest {@link RuntimeSample}, handed to a {@link RuntimeSink} (the
 * per-service store behind the summary's `system` part and the `high_memory` / `high_cpu` alerts).
 *
 * The metrics read, by the figure they give (a higher row wins when a service sends several):
 *
 * | Figure                        | Metric (unit)                                                 | Reading                                              |
 * | ----------------------------- | ------------------------------------------------------------- | ---------------------------------------------------- |
 * | rssBytes                      | `process.memory.usage` (By)                                   | summed over data points                              |
 * |                               | `dotnet.process.memory.working_set` (By)                      |                                                      |
 * |                               | `process.runtime.cpython.memory` (By)                         | points with `type` = `rss`                           |
 * | heapUsedBytes                 | `v8js.memory.heap.used` (By)                                  | summed over heap spaces                              |
 * |                               | `jvm.memory.used` (By)                                        | summed where `jvm.memory.type` = `heap`              |
 * |                               | `process.runtime.jvm.memory.usage` (By)                       | summed where `type` = `heap` (older Java agent)      |
 * |                               | `dotnet.gc.last_collection.heap.size` (By)                    | summed over generations                              |
 * |                               | `process.runtime.go.mem.heap_alloc` (By)                      | older Go runtime instrumentation                     |
 * |                               | `go.memory.used` (By)                                         | all of the Go runtime's memory (stacks included)     |
 * | cpuCores, from a CPU-time     | `process.cpu.time` (s)                                        | summed over `cpu.mode`; cumulative: the rate between |
 * | counter (best)                | `jvm.cpu.time` (s)                                            | two requests of the same service instance; delta:    |
 * |                               | `dotnet.process.cpu.time` (s)                                 | the value over its interval                          |
 * |                               | `process.runtime.cpython.cpu_time` (s)                        |                                                      |
 * | cpuCores, already in cores    | `process.runtime.cpython.cpu.utilization` (1)                 | psutil's percent / 100                               |
 * | cpuCores, a share of all CPUs | `process.cpu.utilization` (1)                                 | times the CPU count when one is sent (below), else   |
 * |                               | `jvm.cpu.recent_utilization` (1)                              | taken as cores: exact on one CPU, an underestimate   |
 * |                               | `process.runtime.jvm.cpu.utilization` (1)                     | on more (never a false `high_cpu`)                   |
 * | (CPU count)                   | `jvm.cpu.count`, `dotnet.process.cpu.count`, `system.cpu.logical.count` |                                            |
 * | eventLoopDelayP99Seconds      | `nodejs.eventloop.delay.p99` (s)                              |                                                      |
 * | eventLoopUtilization          | `nodejs.eventloop.utilization` (1)                            |                                                      |
 *
 * Units: `By` (also `bytes`, `KiBy`, `MiBy`, `GiBy`, `kBy`, `MBy`, `GBy`), `s` (also `seconds`,
 * `ms`, `us`, `ns`: turned into seconds), `1` (also `%`: divided by 100); no unit is read as the
 * metric's own. A metric in another unit, a negative or non-finite value, a histogram or summary
 * is ignored, as is a data point timed more than {@link MAX_CLOCK_SKEW_MS} ahead (a sample's time
 * is its latest point's, and a service's store keeps no sample older than the one it holds: one
 * point from a broken clock would freeze the service's figures), and a cumulative CPU-time counter
 * of an instance whose `service.instance.id` is longer than {@link MAX_INSTANCE_ID_LENGTH} (its
 * rate needs the previous value kept under that id). `go.cpu.time` is not read: the Go runtime's
 * estimate counts idle classes and is, by its own definition, not comparable with process CPU time.
 */
import { z } from 'zod';
import { integer, parseOptions, withMethods } from '../shared/options.ts';
import type { RuntimeSample } from '../telemetry/internal.ts';
import { integerOf, serviceOf } from './attributes.ts';
import { MAX_CLOCK_SKEW_MS } from './decode.ts';
import type { ProtoAnyValue, ProtoKeyValue, RuntimeSink } from './types.ts';

/** What a metric gives. `cpuTime` is a counter of CPU seconds; `cpuShare` a share of all CPUs. */
type Figure = 'rss' | 'heap' | 'cpuTime' | 'cpuCores' | 'cpuShare' | 'cpuCount' | 'eld' | 'elu';
type UnitKind = 'bytes' | 'seconds' | 'ratio' | 'count';

/** How one metric is read. */
interface Source {
  readonly figure: Figure;
  readonly unit: UnitKind;
  /** Only data points whose attribute `key` is the string `value`. */
  readonly only?: { readonly key: string; readonly value: string };
}

/** The metrics read, in order of preference within each figure (see the table above). */
export const RUNTIME_METRICS: ReadonlyMap<string, Source> = new Map<string, Source>([
  ['process.memory.usage', { figure: 'rss', unit: 'bytes' }],
  ['dotnet.process.memory.working_set', { figure: 'rss', unit: 'bytes' }],
  ['process.runtime.cpython.memory', { figure: 'rss', unit: 'bytes', only: { key: 'type', value: 'rss' } }],
  ['v8js.memory.heap.used', { figure: 'heap', unit: 'bytes' }],
  ['jvm.memory.used', { figure: 'heap', unit: 'bytes', only: { key: 'jvm.memory.type', value: 'heap' } }],
  [
    'process.runtime.jvm.memory.usage',
    { figure: 'heap', unit: 'bytes', only: { key: 'type', value: 'heap' } },
  ],
  ['dotnet.gc.last_collection.heap.size', { figure: 'heap', unit: 'bytes' }],
  ['process.runtime.go.mem.heap_alloc', { figure: 'heap', unit: 'bytes' }],
  ['go.memory.used', { figure: 'heap', unit: 'bytes' }],
  ['process.cpu.time', { figure: 'cpuTime', unit: 'seconds' }],
  ['jvm.cpu.time', { figure: 'cpuTime', unit: 'seconds' }],
  ['dotnet.process.cpu.time', { figure: 'cpuTime', unit: 'seconds' }],
  ['process.runtime.cpython.cpu_time', { figure: 'cpuTime', unit: 'seconds' }],
  ['process.runtime.cpython.cpu.utilization', { figure: 'cpuCores', unit: 'ratio' }],
  ['process.cpu.utilization', { figure: 'cpuShare', unit: 'ratio' }],
  ['jvm.cpu.recent_utilization', { figure: 'cpuShare', unit: 'ratio' }],
  ['process.runtime.jvm.cpu.utilization', { figure: 'cpuShare', unit: 'ratio' }],
  ['jvm.cpu.count', { figure: 'cpuCount', unit: 'count' }],
  ['dotnet.process.cpu.count', { figure: 'cpuCount', unit: 'count' }],
  ['system.cpu.logical.count', { figure: 'cpuCount', unit: 'count' }],
  ['nodejs.eventloop.delay.p99', { figure: 'eld', unit: 'seconds' }],
  ['nodejs.eventloop.utilization', { figure: 'elu', unit: 'ratio' }],
]);

/** Preference of each metric within its figure: its position in {@link RUNTIME_METRICS}. */
const RANK = new Map([...RUNTIME_METRICS.keys()].map((name, i) => [name, i]));

const SCALES: Readonly<Record<Exclude<UnitKind, 'count'>, Readonly<Record<string, number>>>> = {
  bytes: {
    '': 1,
    By: 1,
    bytes: 1,
    KiBy: 1024,
    MiBy: 1024 ** 2,
    GiBy: 1024 ** 3,
    kBy: 1e3,
    MBy: 1e6,
    GBy: 1e9,
  },
  seconds: { '': 1, s: 1, seconds: 1, ms: 1e-3, us: 1e-6, ns: 1e-9 },
  ratio: { '': 1, '1': 1, '%': 0.01 },
};

function scaleOf(kind: UnitKind, unit: string): number | undefined {
  if (kind === 'count') return 1;
  const scales = SCALES[kind];
  return Object.hasOwn(scales, unit) ? scales[unit] : undefined;
}

/** `aggregation_temporality` of a delta sum. */
const DELTA = 1;

/**
 * Longest `service.instance.id` (characters) whose cumulative CPU counters are remembered: the id
 * is part of the key of every remembered counter, and up to `maxSeries` keys are kept, so an
 * unbounded id would let a client park megabytes per entry. Real ids (UUIDs, pod names, host:pid)
 * are far shorter.
 */
export const MAX_INSTANCE_ID_LENGTH = 256;

/** The parts of a decoded `NumberDataPoint` read here (64-bit integers as `Long` or number). */
interface DataPoint {
  attributes?: ProtoKeyValue[] | null;
  startTimeUnixNano?: unknown;
  timeUnixNano?: unknown;
  asDouble?: number | null;
  asInt?: unknown;
}

interface DecodedMetric {
  name?: string | null;
  unit?: string | null;
  gauge?: { dataPoints?: DataPoint[] | null } | null;
  sum?: { dataPoints?: DataPoint[] | null; aggregationTemporality?: number | null } | null;
  histogram?: { dataPoints?: unknown[] | null } | null;
  exponentialHistogram?: { dataPoints?: unknown[] | null } | null;
  summary?: { dataPoints?: unknown[] | null } | null;
}

interface DecodedRequest {
  resourceMetrics?:
    | {
        resource?: { attributes?: ProtoKeyValue[] | null } | null;
        scopeMetrics?: { metrics?: DecodedMetric[] | null }[] | null;
      }[]
    | null;
}

/** The value of a data point, or `undefined` when it has none. */
function pointValue(point: DataPoint): number | undefined {
  // A decoded message has its oneof member as an own property; the other reads as a prototype default.
  if (Object.hasOwn(point, 'asDouble') && typeof point.asDouble === 'number') return point.asDouble;
  if (Object.hasOwn(point, 'asInt') && point.asInt !== null) return integerOf(point.asInt);
  return undefined;
}

function stringAttribute(attributes: ProtoKeyValue[] | null | undefined, key: string): string | undefined {
  const value: ProtoAnyValue | null | undefined = attributes?.find((a) => a.key === key)?.value;
  return typeof value?.stringValue === 'string' ? value.stringValue : undefined;
}

/** One metric of one resource, its points summed. */
interface Reading {
  readonly metric: string;
  readonly figure: Figure;
  value: number;
  /** Latest point time, ns. */
  time: number;
  /** Earliest point start time, ns (0 when unset). */
  start: number;
  delta: boolean;
}

/** A cumulative CPU-time counter as last seen, per service instance and metric. */
interface Previous {
  readonly value: number;
  readonly time: number;
  readonly start: number;
}

/** Counts of one mapped request. */
export interface RuntimeMetricCounts {
  /** Services a sample was recorded for. */
  readonly services: number;
  /** Data points of the metrics in {@link RUNTIME_METRICS} that were read. */
  readonly used: number;
  /** Every other data point (other metrics, other units, bad values, histograms, ...). */
  readonly ignored: number;
  /**
   * Of {@link RuntimeMetricCounts.ignored}: the points of metrics not in {@link RUNTIME_METRICS}.
   * The rest are points of runtime metrics that could not be read (another unit or type, a bad
   * value or time, an attribute that rules them out, a service name no part accepts).
   */
  readonly notRuntime: number;
}

const runtimeMetricMapperOptionsSchema = z.strictObject({
  /** Where the samples go. */
  sink: withMethods<RuntimeSink>(['record'], 'a runtime sink (an object with record())') as z.ZodType<
    RuntimeSink,
    RuntimeSink
  >,
  /**
   * Most CPU-time counters remembered (one per service instance and metric) to turn cumulative
   * counters into rates; past it, the least recently seen is forgotten. Default 10000.
   */
  maxSeries: integer(1, 1_000_000).default(10_000),
});

/** Options of {@link RuntimeMetricMapper}. */
export type RuntimeMetricMapperOptions = z.input<typeof runtimeMetricMapperOptionsSchema>;

/** A sample being built: the figures found so far for one service in one request. */
type Draft = { -readonly [K in keyof RuntimeSample]: RuntimeSample[K] };

/**
 * Maps decoded `ExportMetricsServiceRequest`s to per-service runtime samples. Keeps, per service
 * instance, the previous value of each CPU-time counter (bounded) to turn it into cores.
 */
export class RuntimeMetricMapper {
  readonly #sink: RuntimeSink;
  readonly #maxSeries: number;
  readonly #previous = new Map<string, Previous>();

  /** @throws {InvalidArgumentError} on bad options. */
  constructor(options: RuntimeMetricMapperOptions) {
    const parsed = parseOptions(runtimeMetricMapperOptionsSchema, options, {
      what: 'an option of RuntimeMetricMapper',
    });
    this.#sink = parsed.sink;
    this.#maxSeries = parsed.maxSeries;
  }

  /**
   * Records the latest sample of every service in `request` (a message decoded with
   * `otlpTypes().metricsRequest`) that sent at least one figure. Never throws on odd content.
   *
   * @param nowMs the current time, epoch ms (points more than an hour past it are ignored).
   */
  map(request: object, nowMs: number = Date.now()): RuntimeMetricCounts {
    const latestNs = (nowMs + MAX_CLOCK_SKEW_MS) * 1e6;
    const drafts = new Map<string, Draft>();
    let used = 0;
    let ignored = 0;
    let notRuntime = 0;
    for (const resourceMetrics of (request as DecodedRequest).resourceMetrics ?? []) {
      const attributes = resourceMetrics.resource?.attributes;
      // The same reading of service.name as for spans; a name no part accepts (control characters,
      // too long): none of its points are read.
      const named = serviceOf(attributes);
      const service = named.ok ? named.service : '';
      const instance = stringAttribute(attributes, 'service.instance.id') ?? '';
      const counters = instance.length <= MAX_INSTANCE_ID_LENGTH;
      const readings = new Map<string, Reading>();
      for (const scope of resourceMetrics.scopeMetrics ?? []) {
        for (const metric of scope.metrics ?? []) {
          if (!RUNTIME_METRICS.has(metric.name ?? '')) notRuntime += pointsOf(metric);
          if (!named.ok) {
            ignored += pointsOf(metric);
            continue;
          }
          const counted = this.#read(metric, readings, latestNs, counters);
          used += counted.used;
          ignored += counted.ignored;
        }
      }
      if (readings.size === 0) continue;
      const draft = drafts.get(service) ?? { at: 0 };
      this.#resolve(`${service}\u0000${instance}`, readings, draft);
      drafts.set(service, draft);
    }
    let services = 0;
    for (const [service, draft] of drafts) {
      if (Object.keys(draft).length === 1) continue; // only `at`: no figure
      if (draft.at === 0) draft.at = nowMs;
      this.#sink.record(service, draft);
      services++;
    }
    return { services, used, ignored, notRuntime };
  }

  /**
   * Reads one metric into `readings` (summing its points); counts its points.
   *
   * @param latestNs points timed after this are ignored.
   * @param counters whether cumulative CPU-time counters may be read (the instance id is short enough to remember).
   */
  #read(
    metric: DecodedMetric,
    readings: Map<string, Reading>,
    latestNs: number,
    counters: boolean,
  ): { used: number; ignored: number } {
    const total = pointsOf(metric);
    const name = metric.name ?? '';
    const source = RUNTIME_METRICS.get(name);
    const points = metric.gauge?.dataPoints ?? metric.sum?.dataPoints;
    const scale = source === undefined ? undefined : scaleOf(source.unit, metric.unit ?? '');
    if (source === undefined || points === undefined || points === null || scale === undefined) {
      return { used: 0, ignored: total };
    }
    const delta = metric.sum?.aggregationTemporality === DELTA;
    if (source.figure === 'cpuTime' && !delta && !counters) return { used: 0, ignored: total };
    let used = 0;
    for (const point of points) {
      if (source.only && stringAttribute(point.attributes, source.only.key) !== source.only.value) continue;
      const raw = pointValue(point);
      if (raw === undefined || !Number.isFinite(raw) || raw < 0) continue;
      const time = integerOf(point.timeUnixNano) ?? 0;
      if (time > latestNs) continue;
      const start = integerOf(point.startTimeUnixNano) ?? 0;
      const reading = readings.get(name);
      if (reading === undefined) {
        readings.set(name, { metric: name, figure: source.figure, value: raw * scale, time, start, delta });
      } else {
        reading.value += raw * scale;
        reading.time = Math.max(reading.time, time);
        reading.start = reading.start === 0 ? start : Math.min(reading.start, start || reading.start);
      }
      used++;
    }
    return { used, ignored: total - used };
  }

  /** Picks the preferred reading of each figure into `draft`, turning CPU into cores. */
  #resolve(instanceKey: string, readings: Map<string, Reading>, draft: Draft): void {
    const best = new Map<Figure, Reading>();
    let cpuFromTime: number | undefined;
    let cpuFromTimeRank = Number.POSITIVE_INFINITY;
    for (const reading of readings.values()) {
      draft.at = Math.max(draft.at, Math.floor(reading.time / 1e6));
      const rank = RANK.get(reading.metric) ?? Number.POSITIVE_INFINITY;
      if (reading.figure === 'cpuTime') {
        // Every counter is remembered (a later request may need it), the preferred rate is kept.
        const cores = this.#rate(`${instanceKey}\u0000${reading.metric}`, reading);
        if (cores !== undefined && rank < cpuFromTimeRank) {
          cpuFromTime = cores;
          cpuFromTimeRank = rank;
        }
        continue;
      }
      const current = best.get(reading.figure);
      if (current === undefined || rank < (RANK.get(current.metric) ?? Number.POSITIVE_INFINITY)) {
        best.set(reading.figure, reading);
      }
    }
    const figure = (f: Figure) => best.get(f)?.value;
    const rss = figure('rss');
    if (rss !== undefined) draft.rssBytes = rss;
    const heap = figure('heap');
    if (heap !== undefined) draft.heapUsedBytes = heap;
    const eld = figure('eld');
    if (eld !== undefined) draft.eventLoopDelayP99Seconds = eld;
    const elu = figure('elu');
    if (elu !== undefined) draft.eventLoopUtilization = elu;
    const share = figure('cpuShare');
    const count = figure('cpuCount');
    const cores =
      cpuFromTime ??
      figure('cpuCores') ??
      (share === undefined ? undefined : share * (count && count > 0 ? count : 1));
    if (cores !== undefined) draft.cpuCores = cores;
  }

  /** Cores from a CPU-time counter: its delta over its interval, or the rate since the last request. */
  #rate(key: string, reading: Reading): number | undefined {
    if (reading.delta) {
      const seconds = (reading.time - reading.start) / 1e9;
      return reading.start > 0 && seconds > 0 ? reading.value / seconds : undefined;
    }
    const previous = this.#previous.get(key);
    // Re-inserted on every update: the map's order is least recently seen first.
    this.#previous.delete(key);
    this.#previous.set(key, { value: reading.value, time: reading.time, start: reading.start });
    if (this.#previous.size > this.#maxSeries) {
      const oldest = this.#previous.keys().next().value;
      if (oldest !== undefined) this.#previous.delete(oldest);
    }
    if (previous === undefined || previous.start !== reading.start) return undefined; // first, or restarted
    const seconds = (reading.time - previous.time) / 1e9;
    if (seconds <= 0 || reading.value < previous.value) return undefined;
    return (reading.value - previous.value) / seconds;
  }
}

/** Data points of a metric, whatever its type. */
function pointsOf(metric: DecodedMetric): number {
  return (
    (metric.gauge?.dataPoints?.length ?? 0) +
    (metric.sum?.dataPoints?.length ?? 0) +
    (metric.histogram?.dataPoints?.length ?? 0) +
    (metric.exponentialHistogram?.dataPoints?.length ?? 0) +
    (metric.summary?.dataPoints?.length ?? 0)
  );
}
