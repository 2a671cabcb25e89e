/**
 * The README and docs/ against the code: every configuration variable documented with its default,
 * the test and CI commands as .ci/run runs them, readable tables, links that resolve, and none of
 * the phrases that only meant something to the people who wrote the code.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_DOC, documentedVariables, renderConfigDoc } from '../scripts/docs.ts';
import { CONFIG_VARIABLES } from '../src/config.ts';

const ROOT = resolve(import.meta.dirname, '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');
const readme = read('README.md');
const docs = readdirSync(join(ROOT, 'docs'))
  .filter((f) => f.endsWith('.md'))
  .map((f) => `docs/${f}`);
const markdown = ['README.md', ...docs];

/** Every file under `dir` (relative to the root), recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = `${dir}/${name}`;
    return statSync(join(ROOT, path)).isDirectory() ? filesUnder(path) : [path];
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(text: string): Set<string> {
  const withoutCode = text.replace(/```[\s\S]*?```/g, '');
  return new Set([...withoutCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1] ?? '')));
}

describe('README and docs', () => {
  it('document every configuration variable once, as the configuration declares it (npm run docs)', () => {
    const text = read(CONFIG_DOC);
    expect(renderConfigDoc(text), `${CONFIG_DOC} is out of date: run npm run docs`).toBe(text);
    const listed = documentedVariables(text);
    expect([...listed].sort()).toEqual(CONFIG_VARIABLES.map((v) => v.name).sort());
    expect(new Set(listed).size).toBe(listed.length);
    expect(readme).toContain('(docs/configuration.md)');
  });

  it('give the test command that .ci/run runs, and .ci/run runs the smoke test', () => {
    const ci = read('.ci/run');
    expect(readme).toContain('scripts/with-node.sh npm test');
    expect(ci).toContain('with_node npm test');
    expect(ci).toMatch(/^scripts\/smoke\.sh\b/m);
    expect(readme).toContain('scripts/smoke.sh');
  });

  it('state the minimum Node that package.json engines and the smoke test use', () => {
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe('>=22.15');
    expect(readme).toContain('Node.js 22.15 or newer');
    expect(readme).toContain('exactly 22.15.0');
  });

  it('state the Node that the TypeScript tools need, as their npm scripts and the smoke test check it', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    for (const name of ['demo', 'bench', 'dashboards', 'docs']) {
      expect(scripts[`pre${name}`], `pre${name}`).toBe(
        `node scripts/require-node.mjs 22.18 "npm run ${name}"`,
      );
    }
    expect(readme).toContain('need Node 22.18 or\nnewer');
    expect(read('scripts/smoke.sh')).toContain('SMOKE_TS_NODE_VERSION:-22.18.0');
  });

  it('keep table lines readable (at most 160 characters)', () => {
    const long = markdown.flatMap((file) =>
      read(file)
        .split('\n')
        .map((line, i) => ({ file, line: i + 1, length: line.length, table: line.startsWith('|') }))
        .filter((l) => l.table && l.length > 160)
        .map((l) => `${l.file}:${l.line} (${l.length})`),
    );
    expect(long).toEqual([]);
  });

  it('link only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const file of markdown) {
      const text = read(file).replace(/```[\s\S]*?```/g, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (target === undefined || /^[a-z]+:/.test(target)) continue;
        const [path, hash] = target.split('#');
        const resolved = path ? relative(ROOT, resolve(dirname(join(ROOT, file)), path)) : file;
        if (!existsSync(join(ROOT, resolved))) broken.push(`${file}: ${target} (no file ${resolved})`);
        else if (hash && resolved.endsWith('.md') && !anchorsOf(read(resolved)).has(hash)) {
          broken.push(`${file}: ${target} (no heading #${hash} in ${resolved})`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('link every docs/ file from the README', () => {
    for (const doc of docs) expect(readme, doc).toContain(`(${doc})`);
  });

  it('have none of the stale or insider phrases, in docs, src comments or the demo', () => {
    const phrases = [
      'the original design',
      "the issue's schema",
      'not built yet',
      'come with the server part',
      'does not open a database yet',
      'the server issue',
    ];
    const files = [...markdown, ...filesUnder('src'), ...filesUnder('demo')];
    const found = files.flatMap((file) => {
      const text = read(file).toLowerCase();
      return phrases.filter((p) => text.includes(p.toLowerCase())).map((p) => `${file}: "${p}"`);
    });
    expect(found).toEqual([]);
  });
});
