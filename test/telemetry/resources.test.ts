/**
 * The resource sampler's event-loop delay (resolution taken out of the reading) and disk usage
 * (statfs of the working directory and configured paths: gauges, report, health check, config).
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, MAX_DISK_PATHS } from '../../src/config.ts';
import { HealthChecker } from '../../src/http/health.ts';
import { getPerformanceReport } from '../../src/telemetry/index.ts';
import {
  EVENT_LOOP_RESOLUTION_MS,
  eventLoopDelayMs,
  ResourceSampler,
  readDiskUsage,
} from '../../src/telemetry/resources.ts';
import { startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

let t: TestTelemetry | undefined;
let sampler: ResourceSampler | undefined;
afterEach(async () => {
  sampler?.stop();
  sampler = undefined;
  await t?.cleanup();
  t = undefined;
});

function newSampler(extra: Partial<ConstructorParameters<typeof ResourceSampler>[0]> = {}): ResourceSampler {
  sampler = new ResourceSampler({
    alerts: { emit: () => undefined },
    serviceName: 'svc',
    memoryAlertThresholdMb: 1_000_000,
    cpuAlertThresholdPercent: 10_000,
    ...extra,
  });
  return sampler;
}

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Busy on purpose: the loop must really be blocked.
  }
}

describe('event-loop delay', () => {
  it('takes the histogram resolution out of the reading (an idle loop reads the resolution itself)', () => {
    // monitorEventLoopDelay records the interval between firings of a timer due every resolution ms.
    expect(eventLoopDelayMs(10.2e6, 10)).toBeCloseTo(0.2, 9);
    expect(eventLoopDelayMs(10e6, 10)).toBe(0);
    // A timer may fire a little early (libuv's millisecond clock): never a negative delay.
    expect(eventLoopDelayMs(9.25e6, 10)).toBe(0);
    expect(eventLoopDelayMs(210e6, 10)).toBeCloseTo(200, 9);
  });

  it('samples with the configured resolution, 10 ms by default', () => {
    expect(EVENT_LOOP_RESOLUTION_MS).toBe(10);
    expect(newSampler().eventLoopResolutionMs).toBe(10);
    expect(newSampler({ eventLoopResolutionMs: 1 }).eventLoopResolutionMs).toBe(1);
    expect(() => newSampler({ eventLoopResolutionMs: 0 })).toThrow(
      'options.eventLoopResolutionMs: is 0; expected an integer number of ms from 1 to 1000',
    );
  });

  it('reads a large delay after the loop was blocked for 200 ms', async () => {
    const s = newSampler();
    s.start();
    // Right after a sample: monitorEventLoopDelay's reset() forgot its last firing, and lost this.
    s.sample();
    spin(200);
    // The histogram records the blocked interval when its timer next fires; poll until it has.
    const delay = await waitFor(
      () => {
        const p99 = s.sample().eventLoopDelayP99Ms;
        return p99 > 0 ? p99 : undefined;
      },
      { what: 'the blocked interval to be recorded' },
    );
    expect(delay).toBeGreaterThan(150);
  });
});

describe('disk usage', () => {
  it('reads the working directory filesystem as df does', async () => {
    const disk = await readDiskUsage(process.cwd());
    expect(disk.error).toBeUndefined();
    expect(disk.totalBytes).toBeGreaterThan(0);
    expect((disk.usedPercent ?? NaN) + (disk.freePercent ?? NaN)).toBeCloseTo(100, 6);
    // df -P prints Use% as used / (used + available), rounded up.
    const line = execFileSync('df', ['-P', process.cwd()], { encoding: 'utf8' }).trim().split('\n')[1] ?? '';
    const dfPercent = Number(/(\d+)%/.exec(line)?.[1]);
    expect(Math.abs((disk.usedPercent ?? NaN) - dfPercent)).toBeLessThanOrEqual(1);
  });

  it('names the error of a path it cannot read, with null figures', async () => {
    const disk = await readDiskUsage('/no/such/perf-sidecar/path');
    expect(disk).toEqual({
      path: '/no/such/perf-sidecar/path',
      usedPercent: null,
      freePercent: null,
      totalBytes: null,
      availableBytes: null,
      error: 'ENOENT',
    });
  });

  it('samples each distinct path once, at the sampler tick, and bounds the number of paths', async () => {
    const s = newSampler({ diskPaths: [process.cwd(), '/no/such/dir', `${process.cwd()}/.`] });
    expect(s.diskPaths).toEqual([process.cwd(), '/no/such/dir']);
    expect(s.sample().disks).toEqual([]);
    await s.readDisks();
    const disks = s.sample().disks;
    expect(disks.map((d) => d.path)).toEqual([process.cwd(), '/no/such/dir']);
    expect(disks[0]?.usedPercent).not.toBeNull();
    expect(disks[1]?.error).toBe('ENOENT');
    expect(() => newSampler({ diskPaths: Array.from({ length: 17 }, (_, i) => `/p${i}`) })).toThrow(
      'options.diskPaths: lists 17 paths; expected at most 16 distinct paths',
    );
  });

  it('publishes used and free shares as gauges and in the report system part', async () => {
    t = await startTestTelemetry({ REDIS_URL: '', DISK_PATHS: '/tmp' });
    const resources = t.telemetry.resources;
    expect(resources.diskPaths).toEqual([...new Set([process.cwd(), '/tmp'])]);
    await resources.readDisks();
    resources.sample();
    const text = await t.telemetry.renderPrometheus();
    const used = new RegExp(
      `perf_system_filesystem_utilization_ratio\\{[^}]*perf_filesystem_path="${process.cwd()}"[^}]*system_filesystem_state="used"[^}]*\\} ([0-9.e-]+)`,
    ).exec(text);
    const free = new RegExp(
      `perf_system_filesystem_utilization_ratio\\{[^}]*perf_filesystem_path="${process.cwd()}"[^}]*system_filesystem_state="free"[^}]*\\} ([0-9.e-]+)`,
    ).exec(text);
    expect(Number(used?.[1]) + Number(free?.[1])).toBeCloseTo(1, 6);
    const report = await getPerformanceReport({ hours: 1 });
    const disk = report.system.disk.find((d) => d.path === process.cwd());
    expect(disk?.used_percent).toBeCloseTo(Number(used?.[1]) * 100, 6);
    expect(report.system.disk.map((d) => d.path)).toContain('/tmp');
  });
});

describe('disk health check', () => {
  it('warns over DISK_ALERT_THRESHOLD, names the path, and passes under it', async () => {
    t = await startTestTelemetry({ REDIS_URL: '', DISK_ALERT_THRESHOLD: '0.001' });
    await t.telemetry.resources.readDisks();
    t.telemetry.resources.sample();
    const low = await new HealthChecker({ telemetry: t.telemetry }).check();
    const [check] = low.checks['disk:utilization'] ?? [];
    expect(check).toMatchObject({
      componentType: 'system',
      componentId: process.cwd(),
      observedUnit: 'percent',
      status: 'warn',
      output: 'over DISK_ALERT_THRESHOLD (0.001%)',
    });
    expect(low.status).toBe('warn');
    await t.cleanup();

    t = await startTestTelemetry({ REDIS_URL: '', DISK_ALERT_THRESHOLD: '100', DISK_PATHS: '/no/such/dir' });
    await t.telemetry.resources.readDisks();
    t.telemetry.resources.sample();
    const checks = (await new HealthChecker({ telemetry: t.telemetry }).check()).checks['disk:utilization'];
    expect(checks?.[0]).toMatchObject({ componentId: process.cwd(), status: 'pass' });
    expect(checks?.[1]).toMatchObject({
      componentId: '/no/such/dir',
      observedValue: null,
      status: 'warn',
      output: 'could not read the filesystem (ENOENT)',
    });
  });

  it('rejects relative DISK_PATHS, too many paths and a threshold out of range', () => {
    const problem = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(problem({ DISK_PATHS: 'data' })).toContain('DISK_PATHS: "data" has "data", not an absolute path');
    const many = Array.from({ length: MAX_DISK_PATHS + 1 }, (_, i) => `/d${i}`).join(',');
    expect(problem({ DISK_PATHS: many })).toContain(`lists 9 paths, more than ${MAX_DISK_PATHS}`);
    expect(problem({ DISK_ALERT_THRESHOLD: '101' })).toContain('DISK_ALERT_THRESHOLD');
    expect(loadConfig({ DISK_PATHS: ' /a, /b ,/a' }).disk.paths).toEqual(['/a', '/b']);
  });
});
