/**
 * RSS growth after 100,000 distinct operation names, each case in a process of its own
 * (`flood.ts`: memory-only telemetry, RSS read after a forced GC, against the same process's RSS
 * before the flood): the distinct names, the same number of operations under one name (what
 * creating that many tracked spans costs whatever their names), and as many bare active spans
 * with no tracking (what the SDK and its context manager cost by themselves).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const FLOOD = fileURLToPath(new URL('./flood.ts', import.meta.url));

interface FloodFigures {
  readonly rssMiB: number;
  readonly heapUsedMiB: number;
  readonly metricsSeries: number;
}

/** Runs `flood.ts` with `args` and returns its before and after figures. */
function flood(args: readonly string[]): Promise<{ before: FloodFigures; after: FloodFigures }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', FLOOD, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      const phases = out
        .split('\n')
        .filter((line) => line.startsWith('{"phase"'))
        .map((line) => JSON.parse(line) as FloodFigures);
      const [before, after] = phases;
      if (code !== 0 || !before || !after) reject(new Error(`flood.ts ${args.join(' ')} exited ${code}`));
      else resolve({ before, after });
    });
  });
}

/** Prints the table (one run per case, in turn). */
export async function benchNameFlood(names = 100_000): Promise<void> {
  const cases = [
    { name: `trackOperation, ${names.toLocaleString('en-US')} distinct names`, args: [String(names)] },
    {
      name: `trackOperation, ${names.toLocaleString('en-US')} runs of one name`,
      args: [String(names), 'same'],
    },
    {
      name: `bare startActiveSpan, ${names.toLocaleString('en-US')} distinct names`,
      args: [String(names), 'raw'],
    },
  ];
  const rows = [];
  for (const c of cases) {
    const { before, after } = await flood(c.args);
    rows.push({
      case: c.name,
      'RSS before MiB': before.rssMiB,
      'RSS after MiB': after.rssMiB,
      'RSS growth MiB': Math.round((after.rssMiB - before.rssMiB) * 10) / 10,
      'heap used growth MiB': Math.round((after.heapUsedMiB - before.heapUsedMiB) * 10) / 10,
      '/metrics series after': after.metricsSeries,
    });
  }
  console.log('\nRSS growth after a flood of operations, each case its own process (RSS after a forced GC)');
  console.table(rows);
}
