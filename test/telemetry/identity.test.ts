/**
 * The host's package.json identity: the nearest package.json to the main module, never a tool's
 * package inside node_modules, never perf-sidecar's own; bounded and tolerant of bad files.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostPackageIdentity } from '../../src/telemetry/identity.ts';
import { ROOT } from '../helpers/child.ts';

describe('hostPackageIdentity', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perf-sidecar-identity-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function file(path: string, text: string): string {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
    return join(dir, path);
  }

  it('reads name and version of the package.json nearest to the main module', () => {
    file('app/package.json', JSON.stringify({ name: '@acme/shop', version: '3.0.1' }));
    expect(hostPackageIdentity(file('app/src/server/main.js', ''))).toEqual({
      name: '@acme/shop',
      version: '3.0.1',
    });
  });

  it('skips a tool inside node_modules and finds the project around it', () => {
    file('app/node_modules/tool/package.json', JSON.stringify({ name: 'tool', version: '9.9.9' }));
    expect(hostPackageIdentity(file('app/node_modules/tool/bin/cli.js', ''))).toEqual({
      name: '@acme/shop',
      version: '3.0.1',
    });
  });

  it("is empty for perf-sidecar's own package.json, a bad file, odd values, or no main module", () => {
    expect(hostPackageIdentity(join(ROOT, 'test/fixtures/otel-env-app.mjs'))).toEqual({});
    file('broken/package.json', '{ not json');
    expect(hostPackageIdentity(file('broken/main.js', ''))).toEqual({});
    file('odd/package.json', JSON.stringify({ name: 'x'.repeat(300), version: 42 }));
    expect(hostPackageIdentity(file('odd/main.js', ''))).toEqual({});
    expect(hostPackageIdentity(undefined)).toEqual({});
    expect(hostPackageIdentity(join(dir, 'missing.js'))).toEqual({});
  });
});
