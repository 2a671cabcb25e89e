/**
 * Writes the generated parts of docs/: `npm run docs`.
 *
 * docs/configuration.md holds blocks opened by `<!-- variables: NAME NAME ... -->` and closed by
 * `<!-- /variables -->`; each block lists its variables as the configuration declares them (default,
 * description, accepted form), so the reference cannot drift from the checks. test/readme.test.ts
 * fails when the committed file differs from what this renders, or when a variable is in no block.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONFIG_VARIABLES, type ConfigVariable } from '../src/config.ts';

/** Where the generated configuration reference lives, relative to the repository root. */
export const CONFIG_DOC = 'docs/configuration.md';

const BLOCK = /(<!-- variables: ([A-Z0-9_ ]+) -->\n)[\s\S]*?(<!-- \/variables -->)/g;
const WIDTH = 100;

/** Wraps `text` at {@link WIDTH} columns, continuation lines indented by two spaces. */
function wrap(text: string): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = `  ${word}`;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.join('\n');
}

/** One variable as a list item: name, default, what it does, what it accepts. */
export function variableItem(v: ConfigVariable): string {
  const description = v.description.replace(/\.$/, '');
  const secret = v.secret ? ' Never logged or echoed.' : '';
  return wrap(`- \`${v.name}\`, default ${v.default}. ${description}. Accepts ${v.expected}.${secret}`);
}

/** The names listed by every variables block of `markdown`. */
export function documentedVariables(markdown: string): string[] {
  return [...markdown.matchAll(BLOCK)].flatMap((m) => (m[2] ?? '').trim().split(/\s+/));
}

/**
 * `markdown` with every variables block rendered from {@link CONFIG_VARIABLES}.
 *
 * @throws {Error} naming a block entry that is no variable.
 */
export function renderConfigDoc(markdown: string): string {
  const byName = new Map(CONFIG_VARIABLES.map((v) => [v.name, v]));
  return markdown.replace(BLOCK, (_all, open: string, names: string, close: string) => {
    const items = names
      .trim()
      .split(/\s+/)
      .map((name) => {
        const v = byName.get(name);
        if (v === undefined) throw new Error(`${CONFIG_DOC}: ${name} is not a configuration variable`);
        return variableItem(v);
      });
    return `${open}\n${items.join('\n')}\n\n${close}`;
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const path = join(import.meta.dirname, '..', CONFIG_DOC);
  writeFileSync(path, renderConfigDoc(readFileSync(path, 'utf8')));
  process.stdout.write(`wrote ${CONFIG_DOC}\n`);
}
