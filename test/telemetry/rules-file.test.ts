import { mkdir, mkdtemp, rename, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { SpanKind } from '@opentelemetry/api';
import { type Logger, pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_RULES_FILE_BYTES, RulesError } from '../../src/telemetry/rules.ts';
import { type RulesWatcher, watchRules } from '../../src/telemetry/rules-file.ts';
import type { SpanView } from '../../src/telemetry/span-view.ts';
import { waitFor } from '../helpers/wait.ts';

const TARGETS = { simple_query: 2 };

function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

const ORDERS: SpanView = {
  name: 'GET /orders/:id',
  service: 'checkout',
  kind: SpanKind.SERVER,
  attributes: { 'http.route': '/orders/:id' },
  durationSeconds: 0.1,
  error: false,
  traceId: '0af7651916cd43dd8448eb211c80319c',
  spanId: 'b7ad6b7169203331',
  traceFlags: 1,
};

/** A rules document giving the orders route `seconds`. */
function rulesFor(seconds: number): string {
  return `rules:\n  - match: { http.route: /orders/:id }\n    target_seconds: ${seconds}\n`;
}

const BAD = 'rules:\n  - match: { http.route: /orders/:id }\n    target_seconds: -1\n';

let dir: string;
let file: string;
const watchers: RulesWatcher[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'perf-rules-'));
  file = join(dir, 'rules.yaml');
});

afterEach(async () => {
  for (const watcher of watchers.splice(0)) watcher.close();
  await rm(dir, { recursive: true, force: true });
});

async function start(logger?: Logger): Promise<RulesWatcher> {
  const watcher = await watchRules({
    file,
    targets: TARGETS,
    debounceMs: 20,
    logger: logger ?? pino({ level: 'silent' }),
  });
  watchers.push(watcher);
  return watcher;
}

describe('watchRules at start', () => {
  it('loads a good file', async () => {
    await writeFile(file, rulesFor(0.3));
    const watcher = await start();
    expect(watcher.current().size).toBe(1);
    expect(watcher.current().match(ORDERS)?.targetSeconds).toBe(0.3);
  });

  it('refuses a bad file, naming the file, the place and what was expected', async () => {
    await writeFile(file, BAD);
    const error = await watchRules({ file, targets: TARGETS }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RulesError);
    expect((error as RulesError).message).toBe(
      `${file}: rules[0].target_seconds: is -1; expected a number of seconds greater than 0, at most 86400`,
    );
  });

  it('refuses a missing file, a directory and a file over 1 MiB', async () => {
    await expect(watchRules({ file, targets: TARGETS })).rejects.toThrow(`${file}: does not exist`);
    await expect(watchRules({ file: dir, targets: TARGETS })).rejects.toThrow(
      `${dir}: is not a regular file`,
    );
    await writeFile(file, `# ${'x'.repeat(MAX_RULES_FILE_BYTES)}\n${rulesFor(1)}`);
    await expect(watchRules({ file, targets: TARGETS })).rejects.toThrow(
      `expected a rules file of at most ${MAX_RULES_FILE_BYTES} bytes`,
    );
  });

  it('refuses a file that is not UTF-8', async () => {
    await writeFile(file, Buffer.from([0x72, 0x75, 0xff, 0xfe, 0x0a]));
    await expect(watchRules({ file, targets: TARGETS })).rejects.toThrow(`${file}: is not UTF-8 text`);
  });
});

describe('watchRules reloads', () => {
  it('on reload(): new rules in force, true', async () => {
    await writeFile(file, rulesFor(0.3));
    const watcher = await start();
    await writeFile(file, rulesFor(0.5));
    await expect(watcher.reload()).resolves.toBe(true);
    expect(watcher.current().match(ORDERS)?.targetSeconds).toBe(0.5);
  });

  it('keeps the old rules when the new file is bad, with a warning that says why', async () => {
    const { logger, lines } = capturingLogger();
    await writeFile(file, rulesFor(0.3));
    const watcher = await start(logger);
    await writeFile(file, BAD);
    await expect(watcher.reload()).resolves.toBe(false);
    expect(watcher.current().match(ORDERS)?.targetSeconds).toBe(0.3);
    const warning = lines.find((line) => line.level === 40);
    expect(warning?.msg).toContain(`${file}: rules[0].target_seconds: is -1; expected a number of seconds`);
    expect(warning?.msg).toContain('the 1 rules loaded before stay in force');
    expect(warning).toMatchObject({ file, path: 'rules[0].target_seconds' });
  });

  it('keeps the old rules when the file is removed, with a warning', async () => {
    const { logger, lines } = capturingLogger();
    await writeFile(file, rulesFor(0.3));
    const watcher = await start(logger);
    await unlink(file);
    await expect(watcher.reload()).resolves.toBe(false);
    expect(watcher.current().match(ORDERS)?.targetSeconds).toBe(0.3);
    expect(
      lines.some((line) => line.level === 40 && String(line.msg).includes(`${file}: does not exist`)),
    ).toBe(true);
  });

  it('swaps the set at once while spans are being matched; a set already obtained keeps working', async () => {
    await writeFile(file, rulesFor(0.3));
    const watcher = await start();
    const before = watcher.current();
    const seen = new Set<number | undefined>();
    let matching = true;
    // Matching goes on between the reload's steps (file reads are asynchronous).
    const matcher = (async () => {
      while (matching) {
        seen.add(watcher.current().match(ORDERS)?.targetSeconds);
        seen.add(before.match(ORDERS)?.targetSeconds === 0.3 ? 0.3 : -1);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    })();
    for (const seconds of [0.5, 0.7, 0.9]) {
      await writeFile(file, rulesFor(seconds));
      await expect(watcher.reload()).resolves.toBe(true);
    }
    matching = false;
    await matcher;
    expect([...seen].every((s) => s === 0.3 || s === 0.5 || s === 0.7 || s === 0.9)).toBe(true);
    expect(seen.has(-1)).toBe(false);
    expect(before.match(ORDERS)?.targetSeconds).toBe(0.3);
    expect(watcher.current().match(ORDERS)?.targetSeconds).toBe(0.9);
  });

  it('serves calls made during a reload by one more read that sees the latest file', async () => {
    await writeFile(file, rulesFor(0.3));
    const watcher = await start();
    await writeFile(file, rulesFor(0.5));
    const first = watcher.reload();
    const second = watcher.reload();
    // Calls made while one read runs share the one read that follows it.
    expect(watcher.reload()).toBe(second);
    await expect(first).resolves.toBe(true);
    await expect(second).resolves.toBe(true);
    await writeFile(file, rulesFor(0.7));
    const third = watcher.reload();
    await expect(Promise.all([third, watcher.reload()])).resolves.toEqual([true, true]);
    expect(watcher.current().match(ORDERS)?.targetSeconds).toBe(0.7);
  });

  it('picks up a file written in place', async () => {
    await writeFile(file, rulesFor(0.3));
    const watcher = await start();
    await writeFile(file, rulesFor(0.5));
    await waitFor(() => watcher.current().match(ORDERS)?.targetSeconds === 0.5, { what: 'the new rules' });
  });

  it('picks up a file replaced by a rename, as editors save', async () => {
    await writeFile(file, rulesFor(0.3));
    const watcher = await start();
    const temporary = join(dir, '.rules.yaml.swp');
    await writeFile(temporary, rulesFor(0.6));
    await rename(temporary, file);
    await waitFor(() => watcher.current().match(ORDERS)?.targetSeconds === 0.6, { what: 'the new rules' });
  });

  it('picks up a Kubernetes ConfigMap update (the ..data link swapped)', async () => {
    await mkdir(join(dir, '..v1'));
    await writeFile(join(dir, '..v1', 'rules.yaml'), rulesFor(0.3));
    await symlink('..v1', join(dir, '..data'));
    await symlink(join('..data', 'rules.yaml'), file);
    const watcher = await start();
    expect(watcher.current().match(ORDERS)?.targetSeconds).toBe(0.3);
    await mkdir(join(dir, '..v2'));
    await writeFile(join(dir, '..v2', 'rules.yaml'), rulesFor(0.8));
    await symlink('..v2', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    await waitFor(() => watcher.current().match(ORDERS)?.targetSeconds === 0.8, { what: 'the new rules' });
  });

  it('keeps the old rules when a changed file is bad, and takes the next good one', async () => {
    const { logger, lines } = capturingLogger();
    await writeFile(file, rulesFor(0.3));
    const watcher = await start(logger);
    await writeFile(file, BAD);
    await waitFor(() => lines.some((line) => line.level === 40), { what: 'the warning' });
    expect(watcher.current().match(ORDERS)?.targetSeconds).toBe(0.3);
    await writeFile(file, rulesFor(0.4));
    await waitFor(() => watcher.current().match(ORDERS)?.targetSeconds === 0.4, { what: 'the new rules' });
  });

  it('stops on close(): reload() resolves false and the rules stay', async () => {
    await writeFile(file, rulesFor(0.3));
    const watcher = await start();
    watcher.close();
    await writeFile(file, rulesFor(0.5));
    await expect(watcher.reload()).resolves.toBe(false);
    expect(watcher.current().match(ORDERS)?.targetSeconds).toBe(0.3);
  });
});
