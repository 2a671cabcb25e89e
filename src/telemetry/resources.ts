/**
 * The resource sampler: once per interval (not per request) it reads RSS, heap used, process CPU,
 * event-loop delay and event-loop utilisation over the interval just ended, and the used and free
 * share of the sampled filesystems (one `statfs` each), publishes them as gauges and raises
 * `high_memory` (RSS past the threshold) and `high_cpu` (CPU past its threshold for several
 * consecutive samples) alerts. The alert sink deduplicates repeats.
 *
 * Event-loop delay: a timer due every `resolution` ms (10) measures how late each of its firings
 * is, the time since the previous firing minus the resolution, into a histogram whose p99 is
 * reported per interval. `monitorEventLoopDelay` records the whole interval instead, so an idle
 * loop read the resolution itself (about 10 ms), not a delay; and its `reset()` also forgets when
 * it last fired, so a block just after each sample went unseen. Idle now reads near 0 and a loop
 * blocked for 200 ms reads about 190 ms or more. Blocks shorter than the resolution can be missed:
 * the price of a timer that wakes the loop only 100 times a second.
 */
import { statfs } from 'node:fs/promises';
import path from 'node:path';
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';
import type { Meter } from '@opentelemetry/api';
import { z } from 'zod';
import { roundTo } from '../shared/numbers.ts';
import {
  accepts,
  callable,
  decimal,
  integer,
  parseOptions,
  serviceName,
  withMethods,
} from '../shared/options.ts';
import type { AlertEmitter, Implements } from './processor.ts';
import { cpuStreak, highCpuAlert, highMemoryAlert } from './runtime-alerts.ts';
import {
  ATTR_FILESYSTEM_PATH,
  ATTR_FILESYSTEM_STATE,
  METRIC_SYSTEM_CPU,
  METRIC_SYSTEM_ELD_P99,
  METRIC_SYSTEM_ELU,
  METRIC_SYSTEM_FILESYSTEM_UTILIZATION,
  METRIC_SYSTEM_HEAP,
  METRIC_SYSTEM_RSS,
} from './semconv.ts';

/** One sample: figures over the interval that ended at `at`. */
export interface ResourceSample {
  /** When the interval ended (epoch ms). */
  readonly at: number;
  /** Resident set size, MiB. */
  readonly rssMb: number;
  /** V8 heap used, MiB. */
  readonly heapUsedMb: number;
  /** Process CPU over the interval, percent of one core (200 = two cores busy). */
  readonly cpuPercent: number;
  /** 99th percentile of event-loop delay over the interval, ms. */
  readonly eventLoopDelayP99Ms: number;
  /** Event-loop utilisation over the interval, 0..1. */
  readonly eventLoopUtilization: number;
  /** Latest usage of each sampled filesystem (read at the previous tick: `statfs` is asynchronous). */
  readonly disks: readonly DiskUsage[];
}

/** Usage of the filesystem that holds `path`, as `df` counts it (space available to the service). */
export interface DiskUsage {
  /** The sampled path (the working directory or a `DISK_PATHS` entry). */
  readonly path: string;
  /** Used share, percent: used / (used + available), two decimals; `null` when it could not be read. */
  readonly usedPercent: number | null;
  /** Free share, percent (100 - used); `null` when it could not be read. */
  readonly freePercent: number | null;
  /** Size of the filesystem, bytes; `null` when it could not be read. */
  readonly totalBytes: number | null;
  /** Bytes available to unprivileged users; `null` when it could not be read. */
  readonly availableBytes: number | null;
  /** Why it could not be read (an error code such as `ENOENT`), when it could not. */
  readonly error?: string;
}

/** Default resolution of the event-loop delay histogram, ms. */
export const EVENT_LOOP_RESOLUTION_MS = 10;

/**
 * The event-loop delay a timer interval stands for: the interval between two firings (ns) of a
 * timer due every `resolutionMs`, minus that resolution, in ms, never below 0 (libuv's millisecond
 * clock can fire a timer slightly early). See the module comment.
 */
export function eventLoopDelayMs(readingNs: number, resolutionMs: number): number {
  return Math.max(0, readingNs / 1e6 - resolutionMs);
}

/** Reads the usage of the filesystem holding `target` with one `statfs` call. */
export async function readDiskUsage(target: string): Promise<DiskUsage> {
  try {
    const fs = await statfs(target);
    const used = (fs.blocks - fs.bfree) * fs.bsize;
    const available = fs.bavail * fs.bsize;
    const usable = used + available;
    const usedPercent = usable > 0 ? roundTo((used / usable) * 100, 2) : 0;
    return {
      path: target,
      usedPercent,
      freePercent: roundTo(100 - usedPercent, 2),
      totalBytes: fs.blocks * fs.bsize,
      availableBytes: available,
    };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    return {
      path: target,
      usedPercent: null,
      freePercent: null,
      totalBytes: null,
      availableBytes: null,
      error: code,
    };
  }
}

/** Most filesystems one sampler reads: each is a `statfs` per interval and two gauge series. */
const MAX_SAMPLED_DISKS = 16;

/** Schema of the {@link ResourceSampler} options: their one description, type, default and bounds. */
export const resourceSamplerOptionsSchema = z.strictObject({
  /** Where alerts go. */
  alerts: withMethods<AlertEmitter>(['emit'], 'an object with emit()') as Implements<AlertEmitter>,
  /** `service` label of the alerts. */
  serviceName: serviceName(),
  /** RSS in MiB past which `high_memory` is raised (`MEMORY_ALERT_THRESHOLD`). */
  memoryAlertThresholdMb: decimal(0, 1_048_576, { unit: 'MiB', minExclusive: true }),
  /** CPU percent past which, sustained, `high_cpu` is raised (`CPU_ALERT_THRESHOLD`). */
  cpuAlertThresholdPercent: decimal(0, 10_000, { unit: 'percent', minExclusive: true }),
  /**
   * Consecutive samples over the CPU threshold before `high_cpu` is raised, so a one-second burst
   * (a GC, a JSON parse) does not alert. Default 5.
   */
  cpuSustainSamples: integer(1, 3600).default(5),
  /** Sampling interval, ms. Default 1000. */
  intervalMs: integer(10, 3_600_000, 'ms').default(1000),
  /** Meter for the gauges; without one no gauges are published. */
  meter: (
    withMethods<Meter>(['createObservableGauge'], 'an OpenTelemetry Meter') as Implements<Meter>
  ).optional(),
  /**
   * Told every sample after its thresholds are checked (the system history). Synchronous; what it
   * throws is caught. Default: none.
   */
  onSample: callable<(sample: ResourceSample) => void>('a function').optional(),
  /** Resolution of the event-loop delay histogram, ms (1 to 1000). Default 10. */
  eventLoopResolutionMs: integer(1, 1000, 'ms').default(EVENT_LOOP_RESOLUTION_MS),
  /**
   * Paths whose filesystems are sampled (absolute or relative to the working directory; duplicates
   * dropped, at most 16). Default: the working directory.
   */
  diskPaths: accepts(
    z
      .array(z.string().min(1))
      .readonly()
      .transform((paths, ctx) => {
        const resolved = [...new Set(paths.map((p) => path.resolve(p)))];
        if (resolved.length > MAX_SAMPLED_DISKS) {
          const problem = `lists ${resolved.length} paths`;
          ctx.addIssue({ code: 'custom', message: problem, params: { problem } });
          return z.NEVER;
        }
        return resolved;
      }),
    `at most ${MAX_SAMPLED_DISKS} distinct paths`,
  ).default(() => [process.cwd()]),
});

/** Options of {@link ResourceSampler}. */
export type ResourceSamplerOptions = z.input<typeof resourceSamplerOptionsSchema>;

const MIB = 1024 * 1024;

/** Resident set size and V8 heap used now, MiB (two decimals), as samples report them. */
export function memoryNowMb(): { readonly rssMb: number; readonly heapUsedMb: number } {
  const memory = process.memoryUsage();
  return { rssMb: roundTo(memory.rss / MIB, 2), heapUsedMb: roundTo(memory.heapUsed / MIB, 2) };
}

/** See the module comment. */
export class ResourceSampler {
  #options: z.output<typeof resourceSamplerOptionsSchema>;
  readonly #intervalMs: number;
  readonly #sustain: number;
  #timer: NodeJS.Timeout | undefined;
  #delay: RecordableHistogram | undefined;
  #delayTimer: NodeJS.Timeout | undefined;
  #elu = performance.eventLoopUtilization();
  #cpu = process.cpuUsage();
  #lastAt = performance.now();
  #overCpu = 0;
  #latest: ResourceSample | undefined;
  readonly #resolutionMs: number;
  readonly #diskPaths: readonly string[];
  #disks: readonly DiskUsage[] = [];
  /** The `statfs` round in flight: a hung filesystem never stacks up more than one. */
  #diskRead: Promise<void> | undefined;

  /** @throws {InvalidArgumentError} naming the first bad option. */
  constructor(options: ResourceSamplerOptions) {
    this.#options = parseOptions(resourceSamplerOptionsSchema, options, {
      what: 'a resource sampler option',
    });
    this.#intervalMs = this.#options.intervalMs;
    this.#sustain = this.#options.cpuSustainSamples;
    this.#resolutionMs = this.#options.eventLoopResolutionMs;
    this.#diskPaths = this.#options.diskPaths;
    const meter = this.#options.meter;
    if (meter) {
      const gauge = (name: string, unit: string, description: string, read: (s: ResourceSample) => number) =>
        meter.createObservableGauge(name, { unit, description }).addCallback((result) => {
          if (this.#latest) result.observe(read(this.#latest));
        });
      gauge(METRIC_SYSTEM_RSS, 'By', 'Resident set size at the latest sample', (s) =>
        Math.round(s.rssMb * MIB),
      );
      gauge(METRIC_SYSTEM_HEAP, 'By', 'V8 heap used at the latest sample', (s) =>
        Math.round(s.heapUsedMb * MIB),
      );
      gauge(
        METRIC_SYSTEM_CPU,
        '1',
        'Process CPU over the latest sample interval, as a ratio of one core (1 = one core busy)',
        (s) => s.cpuPercent / 100,
      );
      gauge(
        METRIC_SYSTEM_ELD_P99,
        's',
        'p99 event-loop delay over the latest sample interval',
        (s) => s.eventLoopDelayP99Ms / 1000,
      );
      gauge(
        METRIC_SYSTEM_ELU,
        '1',
        'Event-loop utilisation over the latest sample interval',
        (s) => s.eventLoopUtilization,
      );
      meter
        .createObservableGauge(METRIC_SYSTEM_FILESYSTEM_UTILIZATION, {
          unit: '1',
          description: 'Used and free share of each sampled filesystem (space available to the service)',
        })
        .addCallback((result) => {
          for (const disk of this.#disks) {
            if (disk.usedPercent === null || disk.freePercent === null) continue;
            result.observe(disk.usedPercent / 100, {
              [ATTR_FILESYSTEM_PATH]: disk.path,
              [ATTR_FILESYSTEM_STATE]: 'used',
            });
            result.observe(disk.freePercent / 100, {
              [ATTR_FILESYSTEM_PATH]: disk.path,
              [ATTR_FILESYSTEM_STATE]: 'free',
            });
          }
        });
    }
  }

  /** Resolution of the event-loop delay histogram, ms (subtracted from its readings). */
  get eventLoopResolutionMs(): number {
    return this.#resolutionMs;
  }

  /** Event-loop delay readings recorded since the previous sample (0 when not running). */
  get eventLoopReadings(): number {
    return this.#delay?.count ?? 0;
  }

  /** The sampled filesystem paths (resolved, duplicates dropped). */
  get diskPaths(): readonly string[] {
    return this.#diskPaths;
  }

  /**
   * Reads every sampled filesystem now (one `statfs` each) and keeps the result for the next
   * sample and the gauges. Calls made while a round is still running share it.
   */
  readDisks(): Promise<void> {
    this.#diskRead ??= Promise.all(this.#diskPaths.map((p) => readDiskUsage(p)))
      .then((disks) => {
        this.#disks = disks;
      })
      .finally(() => {
        this.#diskRead = undefined;
      });
    return this.#diskRead;
  }

  /** The alert thresholds in force. */
  get thresholds(): { readonly memoryAlertThresholdMb: number; readonly cpuAlertThresholdPercent: number } {
    const { memoryAlertThresholdMb, cpuAlertThresholdPercent } = this.#options;
    return { memoryAlertThresholdMb, cpuAlertThresholdPercent };
  }

  /** Changes the alert thresholds (the middleware's options override the configuration). */
  setThresholds(thresholds: {
    readonly memoryAlertThresholdMb: number;
    readonly cpuAlertThresholdPercent: number;
  }): void {
    this.#options = { ...this.#options, ...thresholds };
  }

  /** Whether sampling is running. */
  get running(): boolean {
    return this.#timer !== undefined;
  }

  /** Starts sampling (idempotent). The timer does not keep the process alive. */
  start(): void {
    if (this.#timer) return;
    const delay = createHistogram();
    this.#delay = delay;
    let last = performance.now();
    this.#delayTimer = setInterval(() => {
      const now = performance.now();
      // Whole nanoseconds, at least 1: the histogram records positive integers only.
      delay.record(Math.max(1, Math.round(eventLoopDelayMs((now - last) * 1e6, this.#resolutionMs) * 1e6)));
      last = now;
    }, this.#resolutionMs);
    this.#delayTimer.unref();
    this.#elu = performance.eventLoopUtilization();
    this.#cpu = process.cpuUsage();
    this.#lastAt = performance.now();
    void this.readDisks();
    this.#timer = setInterval(() => {
      this.sample();
      // Read after the sample: the next one carries it, and no request ever waits for a statfs.
      void this.readDisks();
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops sampling. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (this.#delayTimer) clearInterval(this.#delayTimer);
    this.#delayTimer = undefined;
    this.#delay = undefined;
  }

  /** The latest sample, or `undefined` before the first. */
  latest(): ResourceSample | undefined {
    return this.#latest;
  }

  /**
   * Takes a sample now (the timer calls this every interval), checks the thresholds and returns it.
   * Figures cover the time since the previous sample.
   */
  sample(): ResourceSample {
    const now = performance.now();
    const elapsedMs = Math.max(now - this.#lastAt, 1);
    const cpu = process.cpuUsage(this.#cpu);
    const elu = performance.eventLoopUtilization(this.#elu);
    const memory = memoryNowMb();
    const delay = this.#delay;
    // Readings of 1 ns stand for "not late at all".
    const p99 = delay && delay.count > 0 ? Math.max(0, delay.percentile(99) - 1) / 1e6 : 0;
    delay?.reset();
    this.#cpu = process.cpuUsage();
    this.#elu = performance.eventLoopUtilization();
    this.#lastAt = now;

    const sample: ResourceSample = {
      at: Date.now(),
      ...memory,
      cpuPercent: roundTo(((cpu.user + cpu.system) / 1000 / elapsedMs) * 100, 2),
      eventLoopDelayP99Ms: roundTo(p99, 3),
      eventLoopUtilization: roundTo(elu.utilization, 4),
      disks: this.#disks,
    };
    this.#latest = sample;
    this.#check(sample);
    try {
      this.#options.onSample?.(sample);
    } catch {
      // A listener's failure must not stop the sampling timer or the alerts.
    }
    return sample;
  }

  #check(sample: ResourceSample): void {
    const { alerts, serviceName, memoryAlertThresholdMb, cpuAlertThresholdPercent } = this.#options;
    const memory = highMemoryAlert(serviceName, sample, memoryAlertThresholdMb);
    if (memory) alerts.emit(memory);
    this.#overCpu = cpuStreak(this.#overCpu, sample.cpuPercent, cpuAlertThresholdPercent);
    const cpu = highCpuAlert(serviceName, sample.cpuPercent, this.#overCpu, {
      cpuAlertThresholdPercent,
      cpuSustainSamples: this.#sustain,
    });
    if (cpu) alerts.emit(cpu);
  }
}
