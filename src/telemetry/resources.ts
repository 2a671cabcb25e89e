/**
 * The resource sampler: once per interval (not per request) it reads RSS, heap used, process CPU,
 * event-loop delay and event-loop utilisation over the interval just ended, publishes them as
 * gauges and raises `high_memory` (RSS past the threshold) and `high_cpu` (CPU past its threshold
 * for several consecutive samples) alerts. The alert sink deduplicates repeats.
 */
import { type Histogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { Meter } from '@opentelemetry/api';
import { roundTo } from '../numbers.ts';
import type { AlertEmitter } from './processor.ts';
import {
  METRIC_SYSTEM_CPU,
  METRIC_SYSTEM_ELD_P99,
  METRIC_SYSTEM_ELU,
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
}

/** Options of {@link ResourceSampler}. */
export interface ResourceSamplerOptions {
  /** Where alerts go. */
  readonly alerts: AlertEmitter;
  /** `service` label of the alerts. */
  readonly serviceName: string;
  /** RSS in MiB past which `high_memory` is raised (`MEMORY_ALERT_THRESHOLD`). */
  readonly memoryAlertThresholdMb: number;
  /** CPU percent past which, sustained, `high_cpu` is raised (`CPU_ALERT_THRESHOLD`). */
  readonly cpuAlertThresholdPercent: number;
  /**
   * Consecutive samples over the CPU threshold before `high_cpu` is raised, so a one-second burst
   * (a GC, a JSON parse) does not alert. Default 5.
   */
  readonly cpuSustainSamples?: number;
  /** Sampling interval, ms. Default 1000. */
  readonly intervalMs?: number;
  /** Meter for the gauges; without one no gauges are published. */
  readonly meter?: Meter;
}

const MIB = 1024 * 1024;

/** Resident set size and V8 heap used now, MiB (two decimals), as samples report them. */
export function memoryNowMb(): { readonly rssMb: number; readonly heapUsedMb: number } {
  const memory = process.memoryUsage();
  return { rssMb: roundTo(memory.rss / MIB, 2), heapUsedMb: roundTo(memory.heapUsed / MIB, 2) };
}

/** See the module comment. */
export class ResourceSampler {
  #options: ResourceSamplerOptions;
  readonly #intervalMs: number;
  readonly #sustain: number;
  #timer: NodeJS.Timeout | undefined;
  #delay: ReturnType<typeof monitorEventLoopDelay> | undefined;
  #elu = performance.eventLoopUtilization();
  #cpu = process.cpuUsage();
  #lastAt = performance.now();
  #overCpu = 0;
  #latest: ResourceSample | undefined;

  constructor(options: ResourceSamplerOptions) {
    this.#options = options;
    this.#intervalMs = options.intervalMs ?? 1000;
    this.#sustain = options.cpuSustainSamples ?? 5;
    const meter = options.meter;
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
    }
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
    this.#delay = monitorEventLoopDelay({ resolution: 10 });
    this.#delay.enable();
    this.#elu = performance.eventLoopUtilization();
    this.#cpu = process.cpuUsage();
    this.#lastAt = performance.now();
    this.#timer = setInterval(() => this.sample(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Stops sampling. */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#delay?.disable();
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
    const delay: Histogram | undefined = this.#delay;
    const p99 = delay && delay.count > 0 ? delay.percentile(99) / 1e6 : 0;
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
    };
    this.#latest = sample;
    this.#check(sample);
    return sample;
  }

  #check(sample: ResourceSample): void {
    const { alerts, serviceName, memoryAlertThresholdMb, cpuAlertThresholdPercent } = this.#options;
    if (sample.rssMb > memoryAlertThresholdMb) {
      alerts.emit({
        type: 'high_memory',
        service: serviceName,
        value: sample.rssMb,
        threshold: memoryAlertThresholdMb,
        unit: 'MiB',
        summary: `Resident memory is ${sample.rssMb.toFixed(1)} MiB, over the ${memoryAlertThresholdMb} MiB threshold (heap used ${sample.heapUsedMb.toFixed(1)} MiB).`,
      });
    }
    this.#overCpu = sample.cpuPercent > cpuAlertThresholdPercent ? this.#overCpu + 1 : 0;
    if (this.#overCpu >= this.#sustain) {
      alerts.emit({
        type: 'high_cpu',
        service: serviceName,
        value: sample.cpuPercent,
        threshold: cpuAlertThresholdPercent,
        unit: '%',
        summary: `Process CPU has been over ${cpuAlertThresholdPercent}% for ${this.#overCpu} consecutive samples (now ${sample.cpuPercent.toFixed(1)}%).`,
      });
    }
  }
}
