/**
 * The lockfile is generated under Node 24; under Node 20 npm silently resolves the old
 * OpenTelemetry line. These checks catch a lockfile regenerated with the wrong Node, and a second
 * copy of the packages that must be single (two copies of the instrumentation base or of
 * import-in-the-middle means some modules are patched by a loader hook nobody registered).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const lock = JSON.parse(readFileSync(resolve(import.meta.dirname, '../package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string }>;
};

function copiesOf(name: string): string[] {
  return Object.entries(lock.packages)
    .filter(([path]) => path === `node_modules/${name}` || path.endsWith(`/node_modules/${name}`))
    .map(([, entry]) => entry.version ?? '?');
}

describe('package-lock.json', () => {
  it('locks the current OpenTelemetry line', () => {
    expect(copiesOf('@opentelemetry/sdk-node')).toEqual([expect.stringMatching(/^0\.301\./)]);
    expect(copiesOf('@opentelemetry/sdk-trace')).toEqual([expect.stringMatching(/^3\./)]);
    expect(copiesOf('@opentelemetry/sdk-trace-base')).toEqual([]);
  });

  it.each([
    '@opentelemetry/instrumentation',
    'import-in-the-middle',
    '@opentelemetry/api',
    '@opentelemetry/core',
  ])('holds a single copy of %s', (name) => {
    expect(copiesOf(name)).toHaveLength(1);
  });
});
