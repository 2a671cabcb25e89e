/**
 * A small comparison harness over tinybench: every case runs `batch` operations per sample, cases
 * alternate within each round, and the median across rounds is reported with its ratio to the
 * first case (the baseline measured in the same run).
 */
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { Bench } from 'tinybench';

/** One benchmarked case. */
export interface Case {
  /** Row label. */
  readonly name: string;
  /** Runs one operation (sync) or one batch (when `batched` is true). */
  readonly run: () => unknown | Promise<unknown>;
}

/** Options of {@link compare}. */
export interface CompareOptions {
  /** Operations per sample. Default 1000. */
  readonly batch?: number;
  /** Rounds; the median of the rounds is reported. Default 5. */
  readonly rounds?: number;
  /** Time per case per round, ms. Default 400. */
  readonly timeMs?: number;
  /** Yield to the event loop after every batch (lets batch span processors export). */
  readonly yieldEachBatch?: boolean;
}

/** A reported row. */
export interface Row {
  readonly name: string;
  readonly opsPerSecond: number;
  readonly nsPerOp: number;
  /** Median over the rounds of this case's throughput against the baseline's in the same round. */
  readonly ratio: number;
  /** Lowest per-round ratio. */
  readonly ratioMin: number;
  /** Highest per-round ratio. */
  readonly ratioMax: number;
}

/** Min, median and max of per-round ratios, as printed: `0.91 (0.85-0.97)`. */
export function ratioText(ratios: readonly number[]): string {
  const sorted = [...ratios].sort((a, b) => a - b);
  return `${median(sorted).toFixed(2)} (${(sorted[0] ?? 0).toFixed(2)}-${(sorted.at(-1) ?? 0).toFixed(2)})`;
}

/** The median of `values` (0 for none). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** The `p`th percentile of `values`, nearest rank (0 for none). */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
}

const yieldNow = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Runs the cases and prints a table; the first case is the baseline (ratio 1). */
export async function compare(
  title: string,
  cases: readonly Case[],
  options: CompareOptions = {},
): Promise<Row[]> {
  const batch = options.batch ?? 1000;
  const rounds = options.rounds ?? 5;
  const perCase = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ time: options.timeMs ?? 400, warmup: true, warmupTime: 100 });
    // Alternate the order each round so that neither side always runs first.
    const ordered = round % 2 === 0 ? cases : [...cases].reverse();
    for (const c of ordered) {
      bench.add(c.name, async () => {
        for (let i = 0; i < batch; i++) {
          const result = c.run();
          if (result instanceof Promise) await result;
        }
        if (options.yieldEachBatch) await yieldNow();
      });
    }
    await bench.run();
    for (const task of bench.tasks) {
      const result = task.result;
      if (!result || !('latency' in result)) throw new Error(`benchmark case ${task.name} failed`);
      perCase.get(task.name)?.push((result.latency.mean * 1e6) / batch);
    }
  }
  // Ratios are taken round by round (both sides measured in the same round), so a round that ran
  // slow for both does not widen the spread; min and max show how far single rounds strayed.
  const baselineRounds = perCase.get(cases[0]?.name ?? '') ?? [];
  const rows = cases.map((c) => {
    const rounds_ = perCase.get(c.name) ?? [];
    const ns = median(rounds_);
    const ratios = rounds_.map((value, i) => (baselineRounds[i] ?? value) / value);
    const sorted = [...ratios].sort((a, b) => a - b);
    return {
      name: c.name,
      nsPerOp: ns,
      opsPerSecond: 1e9 / ns,
      ratio: median(ratios),
      ratioMin: sorted[0] ?? 0,
      ratioMax: sorted.at(-1) ?? 0,
      ratioText: ratioText(ratios),
    };
  });
  console.log(
    `\n${title}  (median of ${rounds} rounds, ${batch} ops per sample; ratio: median (min-max) per round)`,
  );
  console.table(
    rows.map((r) => ({
      case: r.name,
      'ns/op': r.nsPerOp.toFixed(0),
      'ops/s': Math.round(r.opsPerSecond).toLocaleString('en-US'),
      'x baseline throughput': r.ratioText,
    })),
  );
  return rows;
}

/** Accepts and forgets spans, so that export cost is the same on both sides and near zero. */
export class DiscardExporter implements SpanExporter {
  export(_spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    done({ code: ExportResultCode.SUCCESS });
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}
