import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../src/config.ts';

const readme = readFileSync(resolve(import.meta.dirname, '../README.md'), 'utf8');

describe('README', () => {
  it('documents every configuration variable with its default', () => {
    for (const variable of CONFIG_VARIABLES) {
      const row = readme
        .split('\n')
        .find((line) => new RegExp(`^\\|\\s*\`${variable.name}\`\\s*\\|`).test(line));
      expect(row, `README row for ${variable.name}`).toBeDefined();
      expect(row?.split('|')[2]?.trim()).toBe(variable.default);
    }
  });

  it('gives the test command that .ci/run runs', () => {
    expect(readme).toContain('scripts/with-node.sh npm test');
    expect(readFileSync(resolve(import.meta.dirname, '../.ci/run'), 'utf8')).toContain('with_node npm test');
  });
});
