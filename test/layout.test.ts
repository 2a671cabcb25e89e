/**
 * The structure docs/layout.md describes, held against the imports in src/: a part reaches another
 * part only through its `index.ts`, `internal.ts` or `semconv.ts`; `shared/` depends on no part;
 * the configuration reads only the leaf modules that hold option schemas; and no source file (the
 * dashboard's style sheets and page template included) is longer than 500 lines. (Type-only
 * imports are left out: they load nothing.)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = resolve(import.meta.dirname, '..', 'src');
const PARTS = new Set(['alerts', 'cache', 'db', 'http', 'ingest', 'slo', 'telemetry']);
const FACES = new Set(['index.ts', 'internal.ts', 'semconv.ts']);
/** Leaves that hold option schemas and name rules, which the configuration builds variables from. */
const CONFIG_LEAVES = new Set([
  'cache/options.ts',
  'db/options.ts',
  'db/url.ts',
  'http/middleware/options.ts',
  'slo/objectives.ts',
  'telemetry/operations.ts',
]);

/** The files under `dir` whose names end with one of `extensions`, recursively. */
function sources(dir: string, extensions: readonly string[] = ['.ts']): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path, extensions);
    return extensions.some((extension) => path.endsWith(extension)) ? [path] : [];
  });
}

/** Relative specifiers a file loads at run time (static imports and re-exports, dynamic imports). */
function runtimeImports(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?from\s+'(\.[^']+)'/gms))
    found.push(m[1] ?? '');
  for (const m of text.matchAll(/^import\s+'(\.[^']+)'/gm)) found.push(m[1] ?? '');
  for (const m of text.matchAll(/import\('(\.[^']+)'\)/g)) found.push(m[1] ?? '');
  return found;
}

/** The part a file under src/ belongs to: a part folder, `shared`, `config`, or `entry`. */
function partOf(path: string): string {
  const [first, second] = relative(SRC, path).split('/');
  if (second === undefined) return first === 'config.ts' ? 'config' : 'entry';
  return first ?? 'entry';
}

const files = sources(SRC);

describe('src/ layout', () => {
  it('reaches other parts only through index.ts, internal.ts or semconv.ts', () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = partOf(file);
      for (const spec of runtimeImports(readFileSync(file, 'utf8'))) {
        const target = resolve(dirname(file), spec);
        const to = partOf(target);
        const within = relative(SRC, target);
        if (to === from || !PARTS.has(to)) continue;
        if (from === 'config' && CONFIG_LEAVES.has(within)) continue;
        if (file.endsWith('/options.ts') && within === 'telemetry/operations.ts') continue;
        if (FACES.has(within.slice(to.length + 1))) continue;
        wrong.push(`${relative(SRC, file)} -> ${within}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('keeps shared/ below every part, and the configuration off the parts but for their option leaves', () => {
    const wrong: string[] = [];
    for (const file of files) {
      const from = partOf(file);
      if (from !== 'shared' && from !== 'config') continue;
      for (const spec of runtimeImports(readFileSync(file, 'utf8'))) {
        const within = relative(SRC, resolve(dirname(file), spec));
        const to = partOf(resolve(SRC, within));
        if (from === 'shared' && to !== 'shared') wrong.push(`${relative(SRC, file)} -> ${within}`);
        if (from === 'config' && PARTS.has(to) && !CONFIG_LEAVES.has(within)) {
          wrong.push(`${relative(SRC, file)} -> ${within}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });

  it('has no source file over 500 lines, style sheets and the page template included', () => {
    const long = sources(SRC, ['.ts', '.css', '.html'])
      .map((file) => ({ file: relative(SRC, file), lines: readFileSync(file, 'utf8').split('\n').length }))
      .filter((f) => f.lines > 500);
    expect(long).toEqual([]);
  });

  it('finds the imports it checks (the patterns still match the code)', () => {
    const cache = readFileSync(join(SRC, 'cache/telemetry.ts'), 'utf8');
    expect(runtimeImports(cache)).toContain('../telemetry/semconv.ts');
    expect(runtimeImports("import type { A } from './a.ts';\nimport { B } from './b.ts';")).toEqual([
      './b.ts',
    ]);
  });
});
