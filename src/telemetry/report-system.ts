/**
 * The `system` part of a performance report: the sidecar's own resource sample, or the latest
 * runtime figures another service exported (see `services.ts`).
 */
import { roundTo } from '../shared/numbers.ts';
import { memoryNowMb } from './resources.ts';
import type { RuntimeSample } from './runtime-sample.ts';
import type { Telemetry } from './types.ts';

/**
 * Latest resource sample of the service reported on: the sidecar's own sampler for the own
 * service, the latest runtime figures it exported for another one. `null` figures before the
 * sampler has run, or that the service does not report.
 */
export interface SystemReport {
  /** Resident set size, MiB; always known for the own service. */
  readonly rss_mb: number | null;
  /** Heap in use, MiB; always known for the own service. */
  readonly heap_mb: number | null;
  readonly cpu_percent: number | null;
  readonly event_loop_delay_p99_ms: number | null;
  readonly event_loop_utilization: number | null;
  /**
   * Filesystems sampled (the working directory's and `DISK_PATHS`): used and free share in percent,
   * `null` when unreadable (then `error` names why). Empty before the sampler has read them, and
   * for a service other than the own one.
   */
  readonly disk: readonly DiskReport[];
  /** When the figures were sampled (ISO 8601); `null` for a service that exported none. */
  readonly sampled_at: string | null;
}

/** One sampled filesystem in {@link SystemReport}. */
export interface DiskReport {
  readonly path: string;
  readonly used_percent: number | null;
  readonly free_percent: number | null;
  readonly total_bytes: number | null;
  readonly available_bytes: number | null;
  /** Why it could not be read (an error code), when it could not. */
  readonly error?: string;
}

/** The own service's system figures: the resource sampler's latest sample, else memory now. */
export function systemReport(telemetry: Telemetry): SystemReport {
  const latest = telemetry.resources.latest();
  if (latest) {
    return {
      rss_mb: latest.rssMb,
      heap_mb: latest.heapUsedMb,
      cpu_percent: latest.cpuPercent,
      event_loop_delay_p99_ms: latest.eventLoopDelayP99Ms,
      event_loop_utilization: latest.eventLoopUtilization,
      disk: latest.disks.map((d) => ({
        path: d.path,
        used_percent: d.usedPercent,
        free_percent: d.freePercent,
        total_bytes: d.totalBytes,
        available_bytes: d.availableBytes,
        ...(d.error ? { error: d.error } : {}),
      })),
      sampled_at: new Date(latest.at).toISOString(),
    };
  }
  // Sampler not running (a library user who did not start it): memory now, the rest unknown.
  const memory = memoryNowMb();
  return {
    rss_mb: memory.rssMb,
    heap_mb: memory.heapUsedMb,
    cpu_percent: null,
    event_loop_delay_p99_ms: null,
    event_loop_utilization: null,
    disk: [],
    sampled_at: new Date().toISOString(),
  };
}

const MIB = 1024 * 1024;

/** A received service's system figures, from its latest runtime sample (all `null` without one). */
export function runtimeSystemReport(sample: RuntimeSample | undefined): SystemReport {
  if (sample === undefined) {
    return {
      rss_mb: null,
      heap_mb: null,
      cpu_percent: null,
      event_loop_delay_p99_ms: null,
      event_loop_utilization: null,
      disk: [],
      sampled_at: null,
    };
  }
  const figure = (value: number | undefined, scale: number, digits: number): number | null =>
    value === undefined || !Number.isFinite(value) ? null : roundTo(value * scale, digits);
  return {
    rss_mb: figure(sample.rssBytes, 1 / MIB, 2),
    heap_mb: figure(sample.heapUsedBytes, 1 / MIB, 2),
    cpu_percent: figure(sample.cpuCores, 100, 2),
    event_loop_delay_p99_ms: figure(sample.eventLoopDelayP99Seconds, 1000, 3),
    event_loop_utilization: figure(sample.eventLoopUtilization, 1, 4),
    disk: [],
    sampled_at: new Date(sample.at).toISOString(),
  };
}
