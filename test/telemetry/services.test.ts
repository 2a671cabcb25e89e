/**
 * The service registry: the names services are recorded under, and the runtime figures services
 * report, with their high_memory / high_cpu alerts held to the resource sampler's rules.
 */
import { describe, expect, it } from 'vitest';
import type { AlertInput } from '../../src/alerts/index.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { ServiceRegistry } from '../../src/telemetry/services.ts';

const MIB = 1024 * 1024;

function registry(options: { maxServices?: number; cpuSustainSamples?: number } = {}) {
  const alerts: AlertInput[] = [];
  const services = new ServiceRegistry({
    ownService: 'sidecar',
    maxServices: options.maxServices ?? 10,
    alerts: { emit: (a) => alerts.push(a) },
    memoryAlertThresholdMb: 100,
    cpuAlertThresholdPercent: 80,
    cpuSustainSamples: options.cpuSustainSamples ?? 3,
  });
  return { services, alerts };
}

describe('ServiceRegistry names', () => {
  it('keeps the own service and the first services by name, then _other; bad names are _other', () => {
    const { services } = registry({ maxServices: 2 });
    expect(services.nameOf('sidecar')).toBe('sidecar');
    expect(services.nameOf('a')).toBe('a');
    expect(services.nameOf('b')).toBe('_other');
    expect(services.nameOf('a')).toBe('a');
    expect(services.nameOf('x'.repeat(257))).toBe('_other');
    expect(services.nameOf('bad\nname')).toBe('_other');
    expect(services.services()).toEqual(['sidecar', 'a', '_other']);
  });

  it('names a bad option', () => {
    expect(() => new ServiceRegistry({ ownService: 'sidecar', maxServices: 0 })).toThrow(
      InvalidArgumentError,
    );
    expect(() => new ServiceRegistry({ ownService: '', maxServices: 1 })).toThrow(
      /^options\.ownService: is ""; expected 1 to 256 printable characters/,
    );
  });
});

describe('ServiceRegistry runtime figures', () => {
  it('raises high_memory for a service over the threshold, from RSS, else from its heap', () => {
    const { services, alerts } = registry();
    services.record('checkout', { at: 1000, rssBytes: 50 * MIB, heapUsedBytes: 40 * MIB });
    expect(alerts).toHaveLength(0);
    services.record('checkout', { at: 2000, rssBytes: 150 * MIB, heapUsedBytes: 40 * MIB });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      type: 'high_memory',
      service: 'checkout',
      value: 150,
      threshold: 100,
      unit: 'MiB',
    });
    expect(alerts[0]?.summary).toMatch(/^Resident memory is 150\.0 MiB/);
    // A JVM that reports its heap only is held to the same threshold with it.
    services.record('jvm-app', { at: 1000, heapUsedBytes: 120 * MIB });
    expect(alerts[1]).toMatchObject({ type: 'high_memory', service: 'jvm-app', value: 120 });
    expect(alerts[1]?.summary).toMatch(/^Heap in use is 120\.0 MiB/);
    expect(services.runtimeOf('checkout')).toEqual({
      at: 2000,
      rssBytes: 150 * MIB,
      heapUsedBytes: 40 * MIB,
    });
  });

  it('raises high_cpu only after cpuSustainSamples consecutive samples over the threshold, counting each sample once', () => {
    const { services, alerts } = registry({ cpuSustainSamples: 3 });
    const cpu = () => alerts.filter((a) => a.type === 'high_cpu');
    services.record('worker', { at: 1, cpuCores: 0.9 });
    services.record('worker', { at: 2, cpuCores: 0.95 });
    // The same sample again (or an older one) does not make a run.
    services.record('worker', { at: 2, cpuCores: 0.95 });
    services.record('worker', { at: 1, cpuCores: 0.99 });
    expect(cpu()).toHaveLength(0);
    services.record('worker', { at: 3, cpuCores: 1.5 });
    expect(cpu()).toHaveLength(1);
    expect(cpu()[0]).toMatchObject({ service: 'worker', value: 150, threshold: 80, unit: '%' });
    expect(cpu()[0]?.summary).toContain('for 3 consecutive samples');
    // A sample under the threshold ends the run.
    services.record('worker', { at: 4, cpuCores: 0.1 });
    services.record('worker', { at: 5, cpuCores: 0.9 });
    services.record('worker', { at: 6, cpuCores: 0.9 });
    expect(cpu()).toHaveLength(1);
    // Runs are per service.
    services.record('other', { at: 7, cpuCores: 0.9 });
    expect(cpu()).toHaveLength(1);
  });

  it('completes a sample with figures of the same time that came apart, and ignores older ones', () => {
    const { services } = registry();
    services.record('api', { at: 10, rssBytes: 10 * MIB });
    services.record('api', { at: 10, cpuCores: 0.2 });
    services.record('api', { at: 5, rssBytes: 1 });
    expect(services.runtimeOf('api')).toEqual({ at: 10, rssBytes: 10 * MIB, cpuCores: 0.2 });
  });

  it('keeps no figures and raises nothing for services past the cap', () => {
    const { services, alerts } = registry({ maxServices: 1 });
    services.record('late', { at: 1, rssBytes: 500 * MIB });
    expect(services.runtimeOf('late')).toBeUndefined();
    expect(services.runtimeOf('_other')).toBeUndefined();
    expect(alerts).toHaveLength(0);
  });
});
