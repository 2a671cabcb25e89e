/**
 * The Dockerfile, proven without a Docker engine: dockerfile-utils (the validator behind the Docker
 * language server, pinned devDependency) reports no problem, a broken copy is reported, and the
 * image's layout is checked against the repository: multi-stage from a pinned Node 24 slim image,
 * non-root, a HEALTHCHECK on /livez, every COPY source present in the build context (and not
 * excluded by .dockerignore), and a CMD that starts files the build produces.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, matchesGlob } from 'node:path';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.ts';

const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

/**
 * Whether .dockerignore keeps `path` out of the build context (plain names, `**`/`*` globs, and
 * `!` exceptions: as in Docker, the last line that matches decides).
 */
function ignored(path: string): boolean {
  let out = false;
  for (const line of ignore) {
    const excepted = line.startsWith('!');
    const pattern = excepted ? line.slice(1) : line;
    if (matchesGlob(path, pattern) || path.startsWith(`${pattern}/`) || matchesGlob(path, `${pattern}/**`)) {
      out = !excepted;
    }
  }
  return out;
}

/** Instructions with continuation lines joined. */
/** The `FROM` line of a stage (the image comes from `ARG NODE_IMAGE`). */
const from = (stage: string) => `FROM $\{NODE_IMAGE} AS ${stage}`;

const instructions = dockerfile
  .replace(/\\\n\s*/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));

describe('Dockerfile', () => {
  it('has no problem dockerfile-utils can find', () => {
    expect(validate(dockerfile).map((d) => `${d.range.start.line + 1}: ${d.message}`)).toEqual([]);
  });

  it('is reported when broken (a bad HEALTHCHECK interval, an unknown instruction)', () => {
    const broken = dockerfile
      .replace('--interval=10s', '--interval=often')
      .replace('WORKDIR /app', 'WORKDIRR /app');
    const messages = validate(broken).map((d) => d.message);
    expect(messages).toContain('time: invalid duration often');
    expect(messages).toContain('Unknown instruction: WORKDIRR');
  });

  it('builds in stages from a pinned Node 24 slim image', () => {
    const arg = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1];
    expect(arg).toMatch(/^node:24\.\d+\.\d+-\w+-slim$/);
    const stages = instructions.filter((l) => l.startsWith('FROM '));
    expect(stages).toEqual([from('build'), from('deps'), from('runtime')]);
    for (const copy of instructions.filter((l) => l.includes('--from='))) {
      expect(['build', 'deps']).toContain(/--from=(\w+)/.exec(copy)?.[1]);
    }
  });

  it('runs as a non-root user with a health check on /livez', () => {
    const runtime = instructions.slice(instructions.indexOf(from('runtime')));
    expect(runtime.filter((l) => l.startsWith('USER '))).toEqual(['USER node']);
    const health = runtime.find((l) => l.startsWith('HEALTHCHECK '));
    expect(health).toMatch(/CMD \["node", "-e", ".*\/livez.*"\]$/);
    expect(runtime.find((l) => l.startsWith('ENV '))).toContain('HOST=0.0.0.0');
  });

  it('copies only what the build context has and .dockerignore lets through', () => {
    const sources = instructions
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from='))
      .flatMap((l) => l.replace(/--\S+/g, '').split(/\s+/).slice(1, -1));
    expect(sources.sort()).toEqual(
      [
        'demo',
        'package-lock.json',
        'package-lock.json',
        'package.json',
        'package.json',
        'package.json',
        'proto',
        'scripts/build-ui.mjs',
        'src',
        'src',
        'tsconfig.build.json',
        'tsconfig.json',
      ].sort(),
    );
    for (const source of new Set(sources)) {
      expect(existsSync(join(ROOT, source)), source).toBe(true);
      expect(ignored(source), `${source} is excluded by .dockerignore`).toBe(false);
    }
    for (const excluded of [
      'node_modules',
      'dist',
      '.git',
      'test',
      'src/nested/node_modules',
      'scripts/smoke.sh',
    ]) {
      expect(ignored(excluded), excluded).toBe(true);
    }
  });

  it('installs without lifecycle scripts (prepare builds dist/ and needs src/ and the compiler)', () => {
    const installs = instructions.filter((l) => /\bnpm (ci|install)\b/.test(l));
    expect(installs).toHaveLength(2);
    for (const install of installs) expect(install).toContain('--ignore-scripts');
    const scripts = (
      JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    ).scripts;
    expect(scripts.prepare).toBe('npm run build');
  });

  it('starts the compiled sidecar through the preload entry, files the build produces', () => {
    const cmd = instructions.filter((l) => l.startsWith('CMD '));
    expect(cmd).toEqual(['CMD ["node", "--import", "./dist/register.js", "./dist/server.js"]']);
    // `npm test` builds first; these are the files `npm run build` made in the build stage.
    expect(existsSync(join(ROOT, 'dist/register.js'))).toBe(true);
    expect(existsSync(join(ROOT, 'dist/server.js'))).toBe(true);
  });
});
