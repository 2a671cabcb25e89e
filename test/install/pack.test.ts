/**
 * The README's "Add it to your service" path, word for word, on a machine that has never seen the
 * repository: a copy of the clone's files (no dist/) is packed with `npm pack` (its `prepare`
 * script builds dist/), ONLY that tarball is installed into a new app in a temporary directory
 * outside the repository (`npm init -y`, `npm pkg set type=module`, plain `npm install <tarball>`,
 * dependencies from the npm registry). With nothing else installed, the root entry must load none
 * of the optional peers and each part must name the one it misses; then the peers the README names
 * are installed and the app.js block of the README runs under
 * `node --import perf-sidecar/register app.js`. The alert must reach the real Redis, the summary
 * and /metrics must show the operation, and its span must reach an OTLP receiver.
 *
 * The copy borrows the repository's node_modules (a symlink) instead of running `npm ci` again: the
 * dev dependencies are only the compiler that `prepare` runs; nothing of them reaches the tarball.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertRecordSchema } from '../../src/alerts/index.ts';
import { ROOT } from '../helpers/child.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { OtlpReceiver } from '../helpers/otlp-receiver.ts';
import { deleteKeys } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

const run = promisify(execFile);

/** The optional peer dependencies, none of which the tarball installs. */
const PEERS = [
  'pg',
  'ioredis',
  'hono',
  '@hono/node-server',
  '@electric-sql/pglite',
  '@electric-sql/pglite-socket',
];

/**
 * Imports the root entry, starts telemetry and tracks one operation, recording every module the
 * process resolves (ESM through a resolve hook, CommonJS through the require cache); prints the
 * optional peers among them.
 */
const ROOT_PROBE = `
import { createRequire, registerHooks } from 'node:module';
const resolved = [];
registerHooks({ resolve(specifier, context, next) { const r = next(specifier, context); resolved.push(r.url); return r; } });
const { startTelemetry, stopTelemetry, trackOperation } = await import('perf-sidecar');
startTelemetry();
const tracked = trackOperation('probe', {}, () => 1);
await stopTelemetry();
const all = [...resolved, ...Object.keys(createRequire(import.meta.url).cache)];
const peers = all.filter((m) => /node_modules[\\/](pg|ioredis|hono|@hono|@electric-sql)[\\/]/.test(m));
process.stdout.write('\\nPROBE ' + JSON.stringify({ peers, modules: all.length, tracked }) + '\\n');
`;

/** The JSON a probe printed on its `PROBE` line (its log lines share stdout). */
function probed(stdout: string): unknown {
  const line = stdout.split('\n').find((l) => l.startsWith('PROBE '));
  if (line === undefined) throw new Error(`no PROBE line in the probe's output:\n${stdout}`);
  return JSON.parse(line.slice('PROBE '.length));
}

/** Uses each part without its optional peer and prints what each said. */
const PARTS_PROBE = `
const out = {};
const said = (e) => ({ code: e.code, message: e.message });
const { createCache } = await import('perf-sidecar/cache');
const memory = createCache();
await memory.set('k', 1);
out.memoryCache = await memory.get('k');
await memory.close();
try { createCache({ redis: 'redis://127.0.0.1:6379' }); } catch (e) { out.redisCache = said(e); }
const { createDatabase } = await import('perf-sidecar/db');
try { await createDatabase({ url: 'postgresql://postgres@127.0.0.1:5432/test' }); } catch (e) { out.db = said(e); }
const { startEmbeddedPostgres } = await import('perf-sidecar/db');
try { await startEmbeddedPostgres(); } catch (e) { out.embedded = said(e); }
try { await import('perf-sidecar/http'); } catch (e) { out.http = said(e); }
process.stdout.write('\\nPROBE ' + JSON.stringify(out) + '\\n');
`;
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The app's environment: only what it is given. */
const baseEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };

/**
 * The npm commands' environment: the user's own (network settings such as a proxy or extra CA
 * certificates included), without what the `npm test` that started vitest put there.
 */
const npmEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^(npm_|INIT_CWD$|VITEST|NODE_OPTIONS$|TEST$)/i.test(key)),
);

/** Runs a command the way a user types it, bounded in time; its output is in the error on failure. */
async function sh(cwd: string, command: string, args: string[], timeoutMs = 150_000): Promise<string> {
  try {
    const { stdout } = await run(command, args, {
      cwd,
      env: npmEnv,
      timeout: timeoutMs,
      maxBuffer: 16 << 20,
    });
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(
      `${command} ${args.join(' ')} failed in ${cwd}: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`,
    );
  }
}

/** The README's fenced block that starts with `// app.js`. */
function readmeApp(): string {
  const block = /```js\n(\/\/ app\.js\n[\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README has no ```js block starting with "// app.js"');
  return block;
}

describe('installing the packed tarball into a new app (the README path)', () => {
  const work = mkdtempSync(join(tmpdir(), 'perf-sidecar-install-'));
  const clone = join(work, 'perf-sidecar');
  const service = join(work, 'my-service');
  const prefix = `perf-test:${randomUUID()}:`;
  let redis: Redis;
  let receiver: OtlpReceiver;
  let tarball = '';
  let app: ReturnType<typeof spawn> | undefined;
  let output = '';
  let base = '';

  beforeAll(async () => {
    redis = new Redis(TEST_REDIS_URL);
    receiver = await OtlpReceiver.start();
  });

  afterAll(async () => {
    if (app?.pid !== undefined && app.exitCode === null && app.signalCode === null) app.kill('SIGKILL');
    await deleteKeys(redis, prefix);
    await redis.quit();
    await receiver.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('packs a fresh clone: prepare builds dist/ into the tarball', async () => {
    const files = (await sh(ROOT, 'git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard']))
      .split('\0')
      .filter((f) => f !== '' && existsSync(join(ROOT, f)));
    for (const file of files) {
      mkdirSync(dirname(join(clone, file)), { recursive: true });
      cpSync(join(ROOT, file), join(clone, file));
    }
    symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
    expect(existsSync(join(clone, 'dist'))).toBe(false);

    const packed = JSON.parse(await sh(clone, 'npm', ['pack', '--json', '--pack-destination', work])) as {
      filename: string;
      files: { path: string }[];
    }[];
    const paths = packed[0]?.files.map((f) => f.path) ?? [];
    expect(paths).toEqual(expect.arrayContaining(['dist/index.js', 'dist/register.js', 'dist/server.js']));
    expect(paths.filter((p) => p.startsWith('test/') || p.startsWith('node_modules/'))).toEqual([]);
    tarball = join(work, packed[0]?.filename ?? '');
    expect(existsSync(tarball)).toBe(true);
  }, 120_000);

  it('installs only the tarball with plain npm commands, as the README says', async () => {
    expect(tarball, 'the pack step ran').not.toBe('');
    mkdirSync(service);
    // The README's commands, with the tarball's real path.
    for (const line of [
      'npm init -y',
      'npm pkg set type=module',
      'npm install /path/to/perf-sidecar-0.2.0.tgz',
    ]) {
      expect(readme).toContain(line);
    }
    await sh(service, 'npm', ['init', '-y']);
    await sh(service, 'npm', ['pkg', 'set', 'type=module']);
    await sh(service, 'npm', ['install', '--no-audit', '--no-fund', '--fetch-retries=1', tarball], 240_000);
    expect(existsSync(join(service, 'node_modules/perf-sidecar/dist/register.js'))).toBe(true);
    // Only the tarball: no link back into the repository.
    expect(readFileSync(join(service, 'package.json'), 'utf8')).toContain('perf-sidecar-0.2.0.tgz');
    // The optional peers are not installed with it.
    for (const peer of PEERS) expect(existsSync(join(service, 'node_modules', peer)), peer).toBe(false);
  }, 300_000);

  it('loads no optional peer from the root entry, and names a missing one where a part needs it', async () => {
    expect(existsSync(join(service, 'node_modules/perf-sidecar')), 'the install step ran').toBe(true);
    writeFileSync(join(service, 'probe-root.mjs'), ROOT_PROBE);
    writeFileSync(join(service, 'probe-parts.mjs'), PARTS_PROBE);
    const root = probed(await sh(service, process.execPath, ['probe-root.mjs'])) as {
      peers: string[];
      modules: number;
      tracked: number;
    };
    expect(root.tracked).toBe(1);
    expect(root.modules).toBeGreaterThan(50);
    expect(root.peers).toEqual([]);

    const parts = probed(await sh(service, process.execPath, ['probe-parts.mjs'])) as Record<
      string,
      { code?: string; message?: string } | number
    >;
    expect(parts.memoryCache).toBe(1);
    expect(parts.redisCache).toMatchObject({ code: 'PERF_PEER_MISSING' });
    expect((parts.redisCache as { message: string }).message).toContain('npm install ioredis@');
    expect(parts.db).toMatchObject({ code: 'PERF_PEER_MISSING' });
    expect((parts.db as { message: string }).message).toContain('npm install pg@');
    expect(parts.embedded).toMatchObject({ code: 'PERF_PEER_MISSING' });
    expect((parts.embedded as { message: string }).message).toContain('npm install @electric-sql/pglite@');
    expect(parts.http).toMatchObject({ code: 'ERR_MODULE_NOT_FOUND' });
    expect((parts.http as { message: string }).message).toContain("'hono'");

    // The preload with REDIS_URL but no ioredis: one line naming the package, exit 1.
    const preload = spawnSync(process.execPath, ['--import', 'perf-sidecar/register', '-e', ''], {
      cwd: service,
      env: { ...baseEnv, REDIS_URL: TEST_REDIS_URL },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(preload.status).toBe(1);
    expect(preload.stderr).toMatch(/the package "ioredis" is not installed.*npm install ioredis@/);
  }, 60_000);

  it('installs the optional peers the README names for the app', async () => {
    const line = 'npm install hono @hono/node-server ioredis';
    expect(readme).toContain(line);
    await sh(
      service,
      'npm',
      ['install', '--no-audit', '--no-fund', '--fetch-retries=1', ...line.split(' ').slice(2)],
      240_000,
    );
    for (const peer of ['hono', '@hono/node-server', 'ioredis']) {
      expect(existsSync(join(service, 'node_modules', peer)), peer).toBe(true);
    }
  }, 300_000);

  it("runs the README's app under node --import perf-sidecar/register: alert in Redis, summary, /metrics, trace", async () => {
    expect(existsSync(join(service, 'node_modules/perf-sidecar')), 'the install step ran').toBe(true);
    writeFileSync(join(service, 'app.js'), readmeApp());
    expect(readme).toContain('node --import perf-sidecar/register app.js');
    app = spawn(process.execPath, ['--import', 'perf-sidecar/register', 'app.js'], {
      cwd: service,
      env: {
        ...baseEnv,
        OTEL_SERVICE_NAME: 'checkout-service',
        REDIS_URL: TEST_REDIS_URL,
        ALERT_KEY_PREFIX: prefix,
        PORT: '0',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      },
    });
    const exited = new Promise<number | null>((done) => app?.once('exit', (code) => done(code)));
    app.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    app.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    base = await waitFor(() => /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1], {
      what: `the app's "listening on" line (output so far: ${output.slice(-500)})`,
      timeoutMs: 30_000,
    });

    const res = await fetch(`${base}/checkout`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true });

    const list = `${prefix}performance_alerts`;
    const raw = await waitFor(async () => (await redis.lrange(list, 0, -1))[0], {
      what: `an alert in ${list}`,
      timeoutMs: 15_000,
    });
    const alert = alertRecordSchema.parse(JSON.parse(raw));
    expect(alert.type).toBe('target_exceeded');
    expect(alert.labels.operation).toBe('checkout');
    expect(alert.labels.service).toBe('checkout-service');

    const alerts = (await (await fetch(`${base}/api/system/alerts`)).json()) as { alerts: { id: string }[] };
    expect(alerts.alerts.map((a) => a.id)).toContain(alert.id);

    const summary = (await (await fetch(`${base}/api/system/performance`)).json()) as {
      operations: Record<string, { count: number; breaches: number }>;
    };
    expect(summary.operations.checkout).toMatchObject({ count: 1, breaches: 1 });

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^perf_target_breaches_total\{[^}]*perf_operation="checkout"[^}]*\} 1$/m);

    const span = await waitFor(() => receiver.spans.find((s) => s.name === 'checkout'), {
      what: 'the checkout span at the OTLP receiver',
    });
    expect(span.resource['service.name']).toBe('checkout-service');
    expect(span.attributes['perf.target_seconds']).toBe(0.05);

    app.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 90_000);
});
