/**
 * The thresholds of the runtime alerts, in one place: `high_memory` (memory past its threshold, at
 * every sample) and `high_cpu` (CPU past its threshold for several consecutive samples, so that a
 * one-second burst does not alert). The resource sampler applies them to the sidecar itself, the
 * service registry to each service that reports its runtime over OTLP.
 */
import type { AlertInput } from '../alerts/index.ts';

/** The thresholds of the runtime alerts (`MEMORY_ALERT_THRESHOLD`, `CPU_ALERT_THRESHOLD`, `CPU_ALERT_SAMPLES`). */
export interface RuntimeThresholds {
  /** Memory, MiB, past which `high_memory` is raised. */
  readonly memoryAlertThresholdMb: number;
  /** CPU, percent of one core, past which (sustained) `high_cpu` is raised. */
  readonly cpuAlertThresholdPercent: number;
  /** Consecutive samples over the CPU threshold before `high_cpu` is raised. */
  readonly cpuSustainSamples: number;
}

/**
 * The `high_memory` alert of one sample, or `undefined` under the threshold. Resident memory is
 * what is compared when it is known; a runtime that reports only its heap is held to the same
 * threshold with its heap.
 */
export function highMemoryAlert(
  service: string,
  memory: { readonly rssMb: number | undefined; readonly heapUsedMb: number | undefined },
  thresholdMb: number,
): AlertInput | undefined {
  const { rssMb, heapUsedMb } = memory;
  if (rssMb !== undefined) {
    if (!(rssMb > thresholdMb)) return undefined;
    const heap = heapUsedMb === undefined ? '' : ` (heap used ${heapUsedMb.toFixed(1)} MiB)`;
    return {
      type: 'high_memory',
      service,
      value: rssMb,
      threshold: thresholdMb,
      unit: 'MiB',
      summary: `Resident memory is ${rssMb.toFixed(1)} MiB, over the ${thresholdMb} MiB threshold${heap}.`,
    };
  }
  if (heapUsedMb === undefined || !(heapUsedMb > thresholdMb)) return undefined;
  return {
    type: 'high_memory',
    service,
    value: heapUsedMb,
    threshold: thresholdMb,
    unit: 'MiB',
    summary: `Heap in use is ${heapUsedMb.toFixed(1)} MiB, over the ${thresholdMb} MiB threshold (resident memory not reported).`,
  };
}

/** The run of consecutive samples over the CPU threshold once a sample of `cpuPercent` is added. */
export function cpuStreak(previous: number, cpuPercent: number, thresholdPercent: number): number {
  return cpuPercent > thresholdPercent ? previous + 1 : 0;
}

/** The `high_cpu` alert once the run reaches the sustain count, else `undefined`. */
export function highCpuAlert(
  service: string,
  cpuPercent: number,
  streak: number,
  thresholds: Pick<RuntimeThresholds, 'cpuAlertThresholdPercent' | 'cpuSustainSamples'>,
): AlertInput | undefined {
  if (streak < thresholds.cpuSustainSamples) return undefined;
  const threshold = thresholds.cpuAlertThresholdPercent;
  return {
    type: 'high_cpu',
    service,
    value: cpuPercent,
    threshold,
    unit: '%',
    summary: `Process CPU has been over ${threshold}% for ${streak} consecutive samples (now ${cpuPercent.toFixed(1)}%).`,
  };
}
