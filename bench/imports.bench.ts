/**
 * What importing each entry point costs a consumer: the time of the `import()` and the process's
 * resident memory after it, each in a fresh Node process, against `@opentelemetry/sdk-node` alone
 * (the floor of any OpenTelemetry setup) measured in the same run. Entry points are imported by
 * their package names (`perf-sidecar/cache`), so the built `dist/` and the `exports` map are what is
 * measured: run `npm run build` first.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/** The entry points, by the specifier a consumer writes. */
export const ENTRY_POINTS = [
  '@opentelemetry/sdk-node',
  'perf-sidecar',
  'perf-sidecar/semconv',
  'perf-sidecar/alerts',
  'perf-sidecar/cache',
  'perf-sidecar/db',
  'perf-sidecar/http',
] as const;

interface Sample {
  readonly ms: number;
  readonly rssMb: number;
}

const ROOT = join(import.meta.dirname, '..');
const PROBE = `
const started = performance.now();
await import(process.argv[1]);
const ms = performance.now() - started;
process.stdout.write(JSON.stringify({ ms, rssMb: process.memoryUsage().rss / 1048576 }));
`;

function sample(specifier: string): Sample {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', PROBE, specifier], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(out) as Sample;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/**
 * Imports each entry point in `rounds` fresh processes (entries alternate within a round) and
 * prints median time and RSS, with min / median / max of the per-round ratio to sdk-node alone.
 */
export function benchImports(rounds = 7): void {
  const samples = new Map<string, Sample[]>(ENTRY_POINTS.map((e) => [e, []]));
  for (let round = 0; round < rounds; round++) {
    const ordered = round % 2 === 0 ? ENTRY_POINTS : [...ENTRY_POINTS].reverse();
    for (const entry of ordered) samples.get(entry)?.push(sample(entry));
  }
  const base = samples.get(ENTRY_POINTS[0]) ?? [];
  console.log(
    `\nImport of each entry point, fresh process each, ${rounds} rounds (ratios per round: min / median / max)`,
  );
  console.log('| Entry point | import ms | x sdk-node | RSS MiB | x sdk-node |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const entry of ENTRY_POINTS) {
    const mine = samples.get(entry) ?? [];
    const timeRatios = mine.map((s, i) => s.ms / (base[i]?.ms ?? Number.NaN));
    const rssRatios = mine.map((s, i) => s.rssMb / (base[i]?.rssMb ?? Number.NaN));
    const spread = (r: number[]) =>
      `${Math.min(...r).toFixed(2)} / ${median(r).toFixed(2)} / ${Math.max(...r).toFixed(2)}`;
    console.log(
      `| ${entry} | ${median(mine.map((s) => s.ms)).toFixed(0)} | ${spread(timeRatios)} | ${median(mine.map((s) => s.rssMb)).toFixed(1)} | ${spread(rssRatios)} |`,
    );
  }
}
