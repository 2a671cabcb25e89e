/**
 * Optional peer dependencies: package.json states the same ranges the error messages name, every
 * peer is a dev dependency (the tests use the real packages), and a missing one is reported with the
 * package to install. (The pack test proves, with nothing but the tarball installed, that the root
 * entry loads none of them and that the subpaths name what is missing.)
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PerfSidecarError } from '../../src/shared/errors.ts';
import { assertPeerInstalled, importPeer, MissingPeerError, OPTIONAL_PEERS } from '../../src/shared/peers.ts';

const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};

describe('optional peers', () => {
  it('are the peer dependencies package.json declares, optional, with the same ranges', () => {
    const code = Object.fromEntries(Object.entries(OPTIONAL_PEERS).map(([name, peer]) => [name, peer.range]));
    const declared = Object.fromEntries(
      Object.entries(pkg.peerDependencies).filter(([name]) => name !== '@types/pg'),
    );
    expect(declared).toEqual(code);
    for (const name of Object.keys(pkg.peerDependencies)) {
      expect(pkg.peerDependenciesMeta[name]?.optional, name).toBe(true);
      expect(pkg.devDependencies[name], `${name} is a dev dependency`).toBeDefined();
      expect(pkg.dependencies[name], `${name} is not a hard dependency`).toBeUndefined();
    }
  });

  it('load when installed', async () => {
    const { Redis } = await importPeer('ioredis', () => import('ioredis'));
    expect(typeof Redis).toBe('function');
    expect(() => assertPeerInstalled('@electric-sql/pglite')).not.toThrow();
  });

  it("turn Node's missing-package error into one that names the package and the install command", async () => {
    const missing = Object.assign(
      new Error("Cannot find package 'pg' imported from /app/node_modules/perf-sidecar/dist/db/service.js"),
      {
        code: 'ERR_MODULE_NOT_FOUND',
      },
    );
    const error = await importPeer('pg', () => Promise.reject(missing)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingPeerError);
    expect(error).toBeInstanceOf(PerfSidecarError);
    expect((error as MissingPeerError).code).toBe('PERF_PEER_MISSING');
    expect((error as MissingPeerError).packageName).toBe('pg');
    expect((error as Error).message).toContain(`npm install pg@${OPTIONAL_PEERS.pg.range}`);
    expect((error as Error).cause).toBe(missing);
  });

  it('pass other load errors through unchanged', async () => {
    const inner = Object.assign(new Error("Cannot find module './missing.js' imported from pg"), {
      code: 'ERR_MODULE_NOT_FOUND',
    });
    await expect(importPeer('ioredis', () => Promise.reject(inner))).rejects.toBe(inner);
    const broken = new SyntaxError('Unexpected token');
    await expect(importPeer('hono', () => Promise.reject(broken))).rejects.toBe(broken);
  });
});
