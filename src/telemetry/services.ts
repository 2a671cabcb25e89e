/**
 * The service registry: which services the sidecar reports on, and their runtime figures.
 *
 * It is the one place that decides the name a service is recorded under (in metrics, windows,
 * rollups and reports): its own `service.name` for the sidecar's own service and for the first
 * `maxServices` services seen (the own one included, and always counted), `_other` for every later
 * one and for a name that is not a service name (1 to 256 printable characters). Reaching the cap
 * logs one warning. So the label sets of every per-service series stay bounded, however many
 * services export to the sidecar.
 *
 * It also keeps each service's latest {@link RuntimeSample} (what `src/ingest` maps from the
 * runtime metrics a service exports) and raises `high_memory` and `high_cpu` for it, with the
 * resource sampler's rules (`runtime-alerts.ts`). Figures of services past the cap are not kept:
 * `_other` stands for several processes, whose memory and CPU mean nothing together.
 */
import type { Logger } from 'pino';
import { z } from 'zod';

import { getLogger } from '../shared/logger.ts';
import { roundTo } from '../shared/numbers.ts';
import {
  decimal,
  integer,
  isServiceName,
  parseOptions,
  serviceName,
  withMethods,
} from '../shared/options.ts';
import type { AlertEmitter, Implements } from './evaluate.ts';
import { cpuStreak, highCpuAlert, highMemoryAlert } from './runtime-alerts.ts';
import type { RuntimeSample, RuntimeSink } from './runtime-sample.ts';
import { OTHER_OPERATION } from './semconv.ts';

/** Name under which services past `maxServices` (and invalid names) are recorded. */
export const OTHER_SERVICE = OTHER_OPERATION;

/** Schema of the {@link ServiceRegistry} options: their one description, type, default and bounds. */
export const serviceRegistryOptionsSchema = z.strictObject({
  /** The sidecar's own `service.name`: always reported on its own. */
  ownService: serviceName(),
  /** Distinct services reported on their own, the own one included (`PERF_MAX_SERVICES`). */
  maxServices: integer(1, 10_000),
  /** Where `high_memory` / `high_cpu` of the services go. Without one, figures are kept, not alerted. */
  alerts: (
    withMethods<AlertEmitter>(['emit'], 'an object with emit()') as Implements<AlertEmitter>
  ).optional(),
  /** Memory in MiB past which `high_memory` is raised (`MEMORY_ALERT_THRESHOLD`). Default: never. */
  memoryAlertThresholdMb: decimal(0, 1_048_576, { unit: 'MiB', minExclusive: true }).optional(),
  /**
   * CPU percent of one core past which, sustained, `high_cpu` is raised (`CPU_ALERT_THRESHOLD`).
   * Default: never.
   */
  cpuAlertThresholdPercent: decimal(0, 10_000, { unit: 'percent', minExclusive: true }).optional(),
  /** Consecutive samples over the CPU threshold before `high_cpu` is raised (`CPU_ALERT_SAMPLES`). */
  cpuSustainSamples: integer(1, 3600).default(5),
  /**
   * Where each runtime sample the registry accepts goes as well, under the service's recorded name
   * (the system history). Default: none.
   */
  runtimeSink: (
    withMethods<RuntimeSink>(['record'], 'an object with record()') as Implements<RuntimeSink>
  ).optional(),
  /** Where the one warning about the cap goes. Default: perf-sidecar's logger. */
  logger: (withMethods<Logger>(['warn'], 'a pino logger') as Implements<Logger>).optional(),
});

/** Options of {@link ServiceRegistry}. */
export type ServiceRegistryOptions = z.input<typeof serviceRegistryOptionsSchema>;

/** What the registry keeps per service with runtime figures. */
interface RuntimeState {
  sample: RuntimeSample;
  /** Consecutive samples over the CPU threshold. */
  cpuStreak: number;
  /** `at` of the latest sample whose CPU was counted (a sample is counted once). */
  cpuAt: number;
}

const MIB = 1024 * 1024;

/** See the module comment. */
export class ServiceRegistry implements RuntimeSink {
  readonly #options: z.output<typeof serviceRegistryOptionsSchema>;
  /** The sidecar's own `service.name`. */
  readonly own: string;
  /** Services with a name of their own (the own one first), in the order they were seen. */
  readonly #named = new Set<string>();
  readonly #runtime = new Map<string, RuntimeState>();
  #warned = false;
  #otherSeen = false;

  /** @throws {InvalidArgumentError} naming the first bad option. */
  constructor(options: ServiceRegistryOptions) {
    this.#options = parseOptions(serviceRegistryOptionsSchema, options, {
      what: 'a service registry option',
    });
    this.own = this.#options.ownService;
    this.#named.add(this.own);
  }

  /** Distinct services reported on their own, the own one included. */
  get maxServices(): number {
    return this.#options.maxServices;
  }

  /**
   * The name `service` is recorded under: itself, or `_other` past `maxServices` (see the module
   * comment). Called for every received span: a lookup once the service is known.
   */
  nameOf(service: string): string {
    if (service === this.own || this.#named.has(service)) return service;
    return this.#admit(service);
  }

  #admit(service: string): string {
    // Checked once per new name only: known names return above.
    if (service === OTHER_SERVICE || !isServiceName(service)) {
      this.#otherSeen = true;
      return OTHER_SERVICE;
    }
    if (this.#named.size < this.#options.maxServices) {
      this.#named.add(service);
      return service;
    }
    this.#otherSeen = true;
    if (!this.#warned) {
      this.#warned = true;
      (this.#options.logger ?? getLogger()).warn(
        { maxServices: this.#options.maxServices, service },
        'PERF_MAX_SERVICES reached: this service and every later new one are recorded as _other',
      );
    }
    return OTHER_SERVICE;
  }

  /** The services recorded so far, by the names they are recorded under (the own one first). */
  services(): string[] {
    return this.#otherSeen ? [...this.#named, OTHER_SERVICE] : [...this.#named];
  }

  /**
   * Records the latest runtime figures of `service` (what `src/ingest` maps from its runtime
   * metrics) and raises `high_memory` / `high_cpu` for it. A sample older than the one held is
   * ignored; one of the same time completes it (figures that came in separate requests). CPU is
   * counted once per sample time, so a repeated sample cannot make a sustained run. Synchronous,
   * never throws.
   */
  record(service: string, sample: RuntimeSample): void {
    const name = this.nameOf(service);
    if (name === OTHER_SERVICE) return;
    const known = this.#runtime.get(name);
    let state: RuntimeState;
    if (known === undefined) {
      state = { sample, cpuStreak: 0, cpuAt: Number.NEGATIVE_INFINITY };
      this.#runtime.set(name, state);
    } else if (sample.at < known.sample.at) return;
    else {
      state = known;
      state.sample = sample.at === known.sample.at ? completed(known.sample, sample) : sample;
    }
    this.#check(name, state, sample);
    try {
      this.#options.runtimeSink?.record(name, sample);
    } catch {
      // record() never throws, whatever the sink does.
    }
  }

  /** The latest runtime figures of a service (by its recorded name), or `undefined`. */
  runtimeOf(service: string): RuntimeSample | undefined {
    return this.#runtime.get(service)?.sample;
  }

  #check(service: string, state: RuntimeState, sample: RuntimeSample): void {
    const alerts = this.#options.alerts;
    const { memoryAlertThresholdMb, cpuAlertThresholdPercent, cpuSustainSamples } = this.#options;
    const merged = state.sample;
    if (
      memoryAlertThresholdMb !== undefined &&
      (sample.rssBytes !== undefined || sample.heapUsedBytes !== undefined)
    ) {
      const memory = highMemoryAlert(
        service,
        { rssMb: mib(merged.rssBytes), heapUsedMb: mib(merged.heapUsedBytes) },
        memoryAlertThresholdMb,
      );
      if (memory) alerts?.emit(memory);
    }
    const cores = sample.cpuCores;
    if (cores === undefined || !Number.isFinite(cores) || sample.at <= state.cpuAt) return;
    state.cpuAt = sample.at;
    if (cpuAlertThresholdPercent === undefined) return;
    const percent = roundTo(cores * 100, 2);
    state.cpuStreak = cpuStreak(state.cpuStreak, percent, cpuAlertThresholdPercent);
    const cpu = highCpuAlert(service, percent, state.cpuStreak, {
      cpuAlertThresholdPercent,
      cpuSustainSamples,
    });
    if (cpu) alerts?.emit(cpu);
  }
}

/** The figures of a runtime sample (everything but its time). */
const FIGURES = [
  'rssBytes',
  'heapUsedBytes',
  'cpuCores',
  'eventLoopDelayP99Seconds',
  'eventLoopUtilization',
] as const satisfies readonly (keyof RuntimeSample)[];

/** `held` with the figures `more` has (those `more` lacks keep their value). */
function completed(held: RuntimeSample, more: RuntimeSample): RuntimeSample {
  const out: { -readonly [K in keyof RuntimeSample]: RuntimeSample[K] } = { ...held };
  for (const key of FIGURES) {
    const value = more[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function mib(bytes: number | undefined): number | undefined {
  return bytes === undefined || !Number.isFinite(bytes) ? undefined : roundTo(bytes / MIB, 2);
}
