/**
 * The demo's command line and workload plan: defaults, bounds, the errors a user sees, and a seeded
 * plan that is reproducible and has the shape the dashboards rely on (every operation, breaches,
 * failures).
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_DEMO_LOG, DemoUsageError, parseDemoOptions } from '../../demo/options.ts';
import { DESIGN_TARGETS } from '../../demo/targets.ts';
import { WorkloadPlan } from '../../demo/workload.ts';
import { DemoProcess } from '../helpers/demo.ts';
import { TEST_DATABASE_URL } from '../helpers/env.ts';

function usageError(argv: string[]): string {
  try {
    parseDemoOptions(argv);
  } catch (error) {
    expect(error).toBeInstanceOf(DemoUsageError);
    return (error as Error).message;
  }
  throw new Error(`accepted ${argv.join(' ')}`);
}

describe('demo options', () => {
  it('defaults to 200 operations at 20x, 4 in flight, seed 42, no linger, logs on stdout (not a terminal)', () => {
    expect(parseDemoOptions([])).toEqual({
      speed: 20,
      count: 200,
      durationSeconds: undefined,
      concurrency: 4,
      seed: 42,
      lingerSeconds: 0,
      logFile: undefined,
      port: undefined,
      host: undefined,
      schema: 'perf_demo',
      help: false,
    });
  });

  it('takes a duration instead of a count, and linger "forever"', () => {
    const options = parseDemoOptions(['--duration', '2.5', '--linger', 'forever', '--port', '0']);
    expect(options).toMatchObject({ count: undefined, durationSeconds: 2.5, lingerSeconds: -1, port: 0 });
  });

  it('in a terminal, keeps serving until Ctrl-C and sends log lines to a file, unless told otherwise', () => {
    expect(parseDemoOptions([], { interactive: true })).toMatchObject({
      lingerSeconds: -1,
      logFile: DEFAULT_DEMO_LOG,
    });
    expect(parseDemoOptions(['--linger', '0', '--log', '-'], { interactive: true })).toMatchObject({
      lingerSeconds: 0,
      logFile: undefined,
    });
    expect(parseDemoOptions(['--log', '/tmp/x.log', '--linger', '5'])).toMatchObject({
      lingerSeconds: 5,
      logFile: '/tmp/x.log',
    });
    expect(usageError(['--log', ''])).toBe('--log: expected a file path, or - for the terminal');
  });

  it('names the bad option and the expected form', () => {
    expect(usageError(['--count', '10', '--duration', '5'])).toBe(
      '--count and --duration exclude each other; give one',
    );
    expect(usageError(['--speed', '0'])).toBe('--speed: 0 is out of range; expected 1 to 10000');
    expect(usageError(['--count', 'many'])).toBe('--count: "many" is not a whole number');
    expect(usageError(['--concurrency', '1.5'])).toBe('--concurrency: "1.5" is not a whole number');
    expect(usageError(['--schema', 'x; DROP TABLE users'])).toContain('is not a schema name');
    expect(usageError(['--frobnicate'])).toContain("Unknown option '--frobnicate'");
  });
});

describe('demo workload plan', () => {
  const draw = (seed: number, n: number) => {
    const plan = new WorkloadPlan(seed, 1);
    return Array.from({ length: n }, () => plan.next());
  };

  it('is the same for the same seed and differs for another', () => {
    expect(draw(7, 50)).toEqual(draw(7, 50));
    expect(draw(7, 50)).not.toEqual(draw(8, 50));
  });

  it('mixes all four operations, with some runs over their target, a few past 4x, and some failures', () => {
    const ops = draw(42, 2000);
    expect(new Set(ops.map((o) => o.name))).toEqual(
      new Set(['ai_layout_generation', 'document_ocr', 'validation', 'simple_query']),
    );
    const target = (name: string) => DESIGN_TARGETS[name] ?? 0;
    const over = ops.filter((o) => o.workSeconds > target(o.name));
    const frustrated = ops.filter((o) => o.workSeconds > 4 * target(o.name));
    expect(over.length).toBeGreaterThan(0);
    expect(over.length).toBeLessThan(ops.length / 4);
    expect(frustrated.length).toBeGreaterThan(0);
    expect(ops.some((o) => o.fails)).toBe(true);
  });

  it('divides the work by the speed factor', () => {
    const [slow] = draw(1, 1);
    const [fast] = (() => {
      const plan = new WorkloadPlan(1, 100);
      return [plan.next()];
    })();
    expect(fast?.workSeconds).toBeCloseTo((slow?.workSeconds ?? 0) / 100, 12);
  });
});

describe('npm run demo with a bad command line', () => {
  it('exits 2 with the message and the usage, before starting anything', async () => {
    const demo = DemoProcess.start(['--speed', 'fast'], {});
    expect(await demo.exited).toBe(2);
    expect(demo.output).toContain('demo: --speed: "fast" is not a number');
    expect(demo.output).toContain('usage: npm run demo -- [options]');
    expect(demo.output).not.toContain('sidecar on');
  });
});

describe('npm run demo with an unreachable database', () => {
  it('exits 1 with one line naming the database, password redacted, no stack trace', async () => {
    const demo = DemoProcess.start(['--count', '5', '--port', '0'], {
      DATABASE_URL: 'postgresql://postgres:demo-s3cret@127.0.0.1:1/nope',
    });
    expect(await demo.exited).toBe(1);
    expect(demo.output).toContain(
      'demo: could not prepare the demo tables: PostgreSQL at postgresql://postgres:***@127.0.0.1:1/nope is unavailable',
    );
    expect(demo.output).not.toContain('demo-s3cret');
    expect(demo.output).not.toMatch(/\n\s+at /);
  });
});

describe('npm run demo output', () => {
  let demo: DemoProcess | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await demo?.stop();
    demo = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  // At debug, every request's log line is written (at info only slow and failed ones are).
  const env = { DATABASE_URL: TEST_DATABASE_URL, REDIS_URL: '', LOG_LEVEL: 'debug' };
  const logLine = /\{"level":\d+/;

  it('in a terminal: no log lines between the progress output, and it serves until Ctrl-C', async () => {
    const before = (() => {
      try {
        return statSync(DEFAULT_DEMO_LOG).size;
      } catch {
        return 0;
      }
    })();
    demo = DemoProcess.startInTerminal(['--count', '8', '--port', '0'], env);
    const url = await demo.url();
    await demo.printed('press Ctrl-C to stop');
    // The workload is over and the URLs printed still answer.
    const metrics = await fetch(`${url}/metrics`);
    expect(metrics.status).toBe(200);
    await metrics.body?.cancel();
    expect(demo.output).toContain(`log lines: ${DEFAULT_DEMO_LOG}`);
    expect(demo.output).not.toMatch(logLine);
    const written = readFileSync(DEFAULT_DEMO_LOG, 'utf8').slice(before);
    expect(written).toContain('"msg":"request"');
    demo.type('\x03');
    expect(await demo.exited).toBe(0);
    expect(demo.output).toContain('demo finished');
  });

  it('not in a terminal: exits after the workload; --log sends the log lines to the file', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'perf-demo-test-'));
    const file = path.join(dir, 'demo.log');
    demo = DemoProcess.start(['--count', '5', '--port', '0', '--log', file], env);
    expect(await demo.exited).toBe(0);
    expect(demo.output).toContain('Where to look:');
    expect(demo.output).not.toMatch(logLine);
    expect(readFileSync(file, 'utf8')).toContain('"msg":"request"');
  });
});
