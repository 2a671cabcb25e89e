import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/shared/scope.ts';
import { durationBoundaries, resolveTarget } from '../../src/telemetry/targets.ts';

describe('resolveTarget', () => {
  const table = { simple_query: 2, ai_operation: 30, summarise: 12 };
  it('takes the explicit target, then the name, then the kind, then none', () => {
    expect(resolveTarget(table, 'summarise', 'ai_operation', 1)).toBe(1);
    expect(resolveTarget(table, 'summarise', 'ai_operation', undefined)).toBe(12);
    expect(resolveTarget(table, 'translate', 'ai_operation', undefined)).toBe(30);
    expect(resolveTarget(table, 'translate', 'unknown_kind', undefined)).toBeUndefined();
    expect(resolveTarget(table, 'toString', '__proto__', undefined)).toBeUndefined();
  });
});

describe('durationBoundaries', () => {
  it('contains every target and four times it, sorted and unique', () => {
    const b = durationBoundaries([2, 30, 120, 5, 30, 0.3]);
    for (const edge of [2, 8, 30, 120, 480, 5, 20, 0.3, 1.2]) expect(b).toContain(edge);
    expect([...b].sort((x, y) => x - y)).toEqual(b);
    expect(new Set(b).size).toBe(b.length);
  });

  it('stays bounded however many targets there are', () => {
    const many = Array.from({ length: 500 }, (_, i) => (i + 1) * 0.5);
    expect(durationBoundaries(many).length).toBeLessThanOrEqual(64);
  });
});

describe('VERSION', () => {
  it('matches package.json', () => {
    const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')) as {
      version: string;
    };
    expect(VERSION).toBe(pkg.version);
  });
});
