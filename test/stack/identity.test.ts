/**
 * Whose telemetry it is. A host app under `node --import perf-sidecar/register` reports the host's
 * identity (SDK default, `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, the host's package.json),
 * never perf-sidecar's `service.name` / `service.version`; perf-sidecar names itself in the
 * instrumentation scope and `telemetry.distro.*`. The sidecar server itself is `perf-sidecar`.
 * Checked on `target_info` of /metrics and on the alert records, in child processes.
 */
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/shared/scope.ts';
import { type AppRun, ROOT, runFixture } from '../helpers/child.ts';
import { startSidecarProcess } from '../helpers/sidecar.ts';

interface Out {
  metrics: string;
  alerts: { labels: { service: string } }[];
}

/** The labels of the `target_info` line. */
function targetInfo(metrics: string): Record<string, string> {
  const line = /^target_info\{(.*)\} 1$/m.exec(metrics)?.[1] ?? '';
  return Object.fromEntries([...line.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
}

function run(env: Record<string, string>): Promise<AppRun<Out>> {
  return runFixture<Out>('otel-env-app.mjs', { LOG_LEVEL: 'warn', ...env });
}

describe('host identity under the preload', () => {
  it('is the SDK default with no identity given (never perf-sidecar), perf-sidecar as distro and scope', async () => {
    const app = await run({});
    expect(app.status, app.stderr).toBe(0);
    const info = targetInfo(app.out?.metrics ?? '');
    // The SDK's default: `unknown_service:` and process.argv0 (a full path when node is started by one).
    expect(info.service_name).toMatch(/^unknown_service:(.*\/)?node$/);
    expect(info.service_version).toBeUndefined();
    expect(info.telemetry_distro_name).toBe('perf-sidecar');
    expect(info.telemetry_distro_version).toBe(VERSION);
    expect(app.out?.metrics).toMatch(
      /^perf_operation_duration_seconds_count\{[^}]*otel_scope_name="perf-sidecar"/m,
    );
    expect(app.out?.alerts.map((a) => a.labels.service)).toEqual([info.service_name]);
  }, 60_000);

  it('takes OTEL_RESOURCE_ATTRIBUTES (service.name, service.version and more)', async () => {
    const app = await run({
      OTEL_RESOURCE_ATTRIBUTES: 'service.name=shop,service.version=1.2.3,deployment.environment.name=test',
    });
    expect(app.status, app.stderr).toBe(0);
    expect(targetInfo(app.out?.metrics ?? '')).toMatchObject({
      service_name: 'shop',
      service_version: '1.2.3',
      deployment_environment_name: 'test',
      telemetry_distro_name: 'perf-sidecar',
    });
    expect(app.out?.alerts.map((a) => a.labels.service)).toEqual(['shop']);
  }, 60_000);

  it('lets OTEL_SERVICE_NAME win over OTEL_RESOURCE_ATTRIBUTES, in the resource and the alerts', async () => {
    const app = await run({ OTEL_SERVICE_NAME: 'billing', OTEL_RESOURCE_ATTRIBUTES: 'service.name=shop' });
    expect(app.status, app.stderr).toBe(0);
    expect(targetInfo(app.out?.metrics ?? '').service_name).toBe('billing');
    expect(app.out?.alerts.map((a) => a.labels.service)).toEqual(['billing']);
  }, 60_000);

  describe('a host app with its own package.json, installed next to perf-sidecar', () => {
    const dir = mkdtempSync(join(tmpdir(), 'perf-sidecar-host-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('reports the package name and version', async () => {
      writeFileSync(
        join(dir, 'package.json'),
        JSON.stringify({ name: 'host-shop', version: '2.3.4', type: 'module', private: true }),
      );
      mkdirSync(join(dir, 'node_modules'));
      symlinkSync(ROOT, join(dir, 'node_modules', 'perf-sidecar'), 'dir');
      copyFileSync(join(ROOT, 'test/fixtures/otel-env-app.mjs'), join(dir, 'app.mjs'));
      const out = join(dir, 'out.json');
      const child = spawn(process.execPath, ['--import', 'perf-sidecar/register', 'app.mjs'], {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          LOG_LEVEL: 'warn',
          FIXTURE_OUT: out,
        },
        timeout: 60_000,
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
      });
      const status = await new Promise<number | null>((done) => child.on('close', done));
      expect(status, stderr).toBe(0);
      const result = JSON.parse(readFileSync(out, 'utf8')) as Out;
      expect(targetInfo(result.metrics)).toMatchObject({
        service_name: 'host-shop',
        service_version: '2.3.4',
      });
      expect(result.alerts.map((a) => a.labels.service)).toEqual(['host-shop']);
    }, 60_000);
  });
});

describe('the sidecar server process (npm start)', () => {
  it('is perf-sidecar with its version, and OTEL_SERVICE_NAME still wins', async () => {
    for (const [env, name] of [
      [{}, 'perf-sidecar'],
      [{ OTEL_SERVICE_NAME: 'edge-sidecar' }, 'edge-sidecar'],
    ] as const) {
      const sidecar = await startSidecarProcess({ server: true }, { ...env });
      try {
        const info = targetInfo(await (await fetch(`${sidecar.url}/metrics`)).text());
        expect(info).toMatchObject({
          service_name: name,
          service_version: VERSION,
          telemetry_distro_name: 'perf-sidecar',
        });
      } finally {
        expect(await sidecar.stop()).toBe(0);
      }
    }
  }, 90_000);
});
