/**
 * Writes the Prometheus error-budget rules, prometheus-slo-rules.yml: `npm run slo-rules`
 * (`-- --objective 0.995 --period-days 28 --out FILE` for another objective, period or file).
 *
 * The rules are generated, not written by hand, so that they follow the same table as the sidecar's
 * own burn-rate evaluation (src/slo/windows.ts: windows, thresholds, the workbook's scaling to other
 * periods) and the same default objective (src/slo/objectives.ts). test/stack/prometheus-config.test.ts
 * fails when the committed file differs from what this writes with the defaults, and runs promtool's
 * unit tests (prometheus-slo-rules.test.yml) on it.
 */
import { writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Document } from 'yaml';
import {
  DEFAULT_OBJECTIVE,
  DEFAULT_PERIOD_DAYS,
  OBJECTIVE_FORM,
  objectiveValueSchema,
  PERIOD_FORM,
  periodDaysSchema,
} from '../src/slo/objectives.ts';
import {
  ALERT_WINDOWS,
  type AlertWindow,
  burnThreshold,
  WINDOW_MINUTES,
  windowLabel,
} from '../src/slo/windows.ts';

/** The repository root. */
const ROOT = resolve(import.meta.dirname, '..');

/** Where the rules go by default, relative to the repository root (prometheus.yml loads it from there). */
export const SLO_RULES_FILE = 'prometheus-slo-rules.yml';

/** Name of both burn-rate alerts; their `severity` label (`page`, `ticket`) tells them apart, as Sloth does. */
export const SLO_ALERT_NAME = 'PerfErrorBudgetBurn';

/** The labels an objective is kept by: operations of the same name in two services are two objectives. */
const BY = 'service_name, perf_operation';

/** Every run of an operation (one series per outcome x exceeded combination). */
const RUNS = 'perf_operation_duration_seconds_count';

/**
 * The target gauge: present only for operations that carry a target. Operations tracked without one
 * are recorded in {@link RUNS} too (never exceeded), but they have no objective to burn.
 */
const TARGET = 'perf_operation_target_seconds';

/** What the generator is given. */
export interface SloRulesOptions {
  /** Share of runs that must be good, in (0, 1). */
  readonly objective: number;
  /** Period the budget is counted over, days. */
  readonly periodDays: number;
}

/** The options and where to write. */
export interface SloRulesArgs extends SloRulesOptions {
  /** Absolute path of the output file. */
  readonly out: string;
}

/** A Prometheus rule (recording or alerting), as written. */
export interface PromRule {
  readonly record?: string;
  readonly alert?: string;
  readonly expr: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

/** A Prometheus rules file, as written. */
export interface PromRulesFile {
  readonly groups: readonly { readonly name: string; readonly rules: readonly PromRule[] }[];
}

/**
 * Rounds away float noise (0.01 x 14.4 = 0.14400000000000002): a run share exactly at the
 * threshold must compare equal to it, as the table means "at the threshold or more".
 */
function clean(n: number): number {
  return Number(n.toPrecision(12));
}

/** The recorded bad share of a window: `perf:slo_bad_share:rate5m`. */
export function badShareRecord(minutes: number): string {
  return `perf:slo_bad_share:rate${windowLabel(minutes)}`;
}

/**
 * Share of the runs of each operation with a target that were bad (over target, or failed) over
 * `minutes`. The bad runs are the union of the failed series and the exceeded series (`or` keeps a
 * series once when it is both); the runs `* 0` add a zero for operations without any bad series
 * yet, so that they record 0 instead of nothing.
 */
export function badShareExpr(minutes: number): string {
  const w = windowLabel(minutes);
  return `(
  sum by (${BY}) (
      rate(${RUNS}{perf_outcome="error"}[${w}])
    or
      rate(${RUNS}{perf_target_exceeded="true"}[${w}])
    or
      rate(${RUNS}[${w}]) * 0
  )
/
  sum by (${BY}) (rate(${RUNS}[${w}]))
)
and on (${BY})
  ${TARGET}
`;
}

/**
 * One row of the table: both windows at or over the row's share of bad runs. The comparison is on
 * shares (exact decimals after {@link clean}), and the result divided by the budget so that the
 * alert's value is the long window's burn rate.
 */
function rowExpr(window: AlertWindow, options: SloRulesOptions): string {
  const budget = clean(1 - options.objective);
  const share = clean(burnThreshold(window, options.periodDays) * budget);
  return `(
    ${badShareRecord(window.longMinutes)} >= ${share}
  and
    ${badShareRecord(window.shortMinutes)} >= ${share}
) / ${budget}`;
}

/** `1h / 5m`. */
function windowPair(w: AlertWindow): string {
  return `${windowLabel(w.longMinutes)} / ${windowLabel(w.shortMinutes)}`;
}

/** `14.4 x the budget over 1h and 5m (2% of the 30-day budget in 1h)`. */
function rowText(w: AlertWindow, periodDays: number): string {
  const long = windowLabel(w.longMinutes);
  return `${clean(burnThreshold(w, periodDays))}x the budget over ${long} and ${windowLabel(w.shortMinutes)} (${clean(w.budgetShare * 100)}% of the ${periodDays}-day budget in ${long})`;
}

/** The rules file for an objective and period, as data. */
export function buildSloRules(options: SloRulesOptions): PromRulesFile {
  const percent = `${clean(options.objective * 100)}%`;
  const alerts: PromRule[] = (['page', 'ticket'] as const).map((severity) => {
    const rows = ALERT_WINDOWS.filter((w) => w.severity === severity);
    return {
      alert: SLO_ALERT_NAME,
      expr: `${rows.map((w) => rowExpr(w, options)).join('\nor\n')}\n`,
      labels: { severity },
      annotations: {
        summary: `"{{ $labels.perf_operation }}" of {{ $labels.service_name }} burns its error budget {{ $value | printf "%.1f" }} times as fast as its ${percent} objective allows (${severity}: ${rows.map(windowPair).join(', ')})`,
        description: `Bad runs (over target or failed) at ${rows.map((w) => rowText(w, options.periodDays)).join(', or ')}. Objective ${percent} of runs good over ${options.periodDays} days; the value is the long window's burn rate.`,
      },
    };
  });
  // One group: its rules are evaluated in order, so the alerts read the bad shares recorded at the
  // same evaluation. In two groups they would read those of the previous one (a page one interval
  // late, and promtool's unit tests would depend on the order it happens to run the groups in).
  const records = WINDOW_MINUTES.map((m) => ({ record: badShareRecord(m), expr: badShareExpr(m) }));
  return { groups: [{ name: 'perf-sidecar-slo', rules: [...records, ...alerts] }] };
}

/** The command that writes the file for these options (the defaults need no flags). */
function command(options: SloRulesOptions): string {
  const flags = [
    options.objective === DEFAULT_OBJECTIVE ? '' : ` --objective ${options.objective}`,
    options.periodDays === DEFAULT_PERIOD_DAYS ? '' : ` --period-days ${options.periodDays}`,
  ].join('');
  return flags === '' ? 'npm run slo-rules' : `npm run slo-rules --${flags}`;
}

/** The file text: a header saying where it comes from and why it looks as it does, then the rules. */
export function sloRulesText(options: SloRulesOptions): string {
  const table = ALERT_WINDOWS.map(
    (w) =>
      `#   ${w.severity.padEnd(6)}  ${windowPair(w).padEnd(8)}  burn rate ${String(clean(burnThreshold(w, options.periodDays))).padEnd(5)} (${clean(w.budgetShare * 100)}% of the budget)`,
  ).join('\n');
  const header = `GENERATED by \`${command(options)}\` (scripts/slo-rules.ts): do not edit, regenerate.
Objective ${options.objective} (${clean(options.objective * 100)}% of runs good), period ${options.periodDays} days: the error budget is ${clean((1 - options.objective) * 100)}% of runs.

Error budgets of the operations with a target (perf_operation_target_seconds), per service_name and
perf_operation. A run is bad when it exceeded its target or failed. The recording rules keep the
bad share of each window; the alerts are the SRE workbook's multi-window, multi-burn-rate ones
(table 5-8, src/slo/windows.ts), scaled to the period: a row fires when both its long and its short
window burn the budget at its rate or faster:
${table.replaceAll('#   ', '  ')}
The alerts have no \`for:\`, as Sloth generates them: the short window already requires the burn to
last (5 min of bad runs at 14.4x, for example) and ends the alert soon after the burn stops; a \`for\`
would only delay the page by as much.`;
  const doc = new Document(buildSloRules(options));
  doc.commentBefore = header
    .split('\n')
    .map((line) => (line === '' ? '' : ` ${line}`))
    .join('\n');
  return doc.toString({ lineWidth: 0 });
}

/** A usage error: which flag, what it accepts, what it got. */
function usage(flag: string, form: string, got: string): Error {
  return new Error(`${flag}: expected ${form}, got "${got}"`);
}

/**
 * Reads the command line: `--objective N`, `--period-days N`, `--out FILE` (relative to the working
 * directory), each optional.
 *
 * @throws {Error} naming the flag and the accepted form, for a value out of range or not a number,
 * an unknown flag or a flag without its value.
 */
export function parseSloArgs(argv: readonly string[], cwd = process.cwd()): SloRulesArgs {
  let values: { objective?: string; 'period-days'?: string; out?: string };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        objective: { type: 'string' },
        'period-days': { type: 'string' },
        out: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new Error(
      `${(error as Error).message}; accepted: --objective N, --period-days N, --out FILE (all optional)`,
    );
  }
  let objective = DEFAULT_OBJECTIVE;
  if (values.objective !== undefined) {
    const text = values.objective;
    const n = /^\d*\.?\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!objectiveValueSchema.safeParse(n).success) throw usage('--objective', OBJECTIVE_FORM, text);
    objective = n;
  }
  let periodDays = DEFAULT_PERIOD_DAYS;
  if (values['period-days'] !== undefined) {
    const text = values['period-days'];
    const n = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!periodDaysSchema.safeParse(n).success) throw usage('--period-days', PERIOD_FORM, text);
    periodDays = n;
  }
  if (values.out === '') throw usage('--out', 'a file name', '');
  const out = values.out === undefined ? join(ROOT, SLO_RULES_FILE) : resolve(cwd, values.out);
  return { objective, periodDays, out };
}

if (import.meta.main) {
  let args: SloRulesArgs;
  try {
    args = parseSloArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`slo-rules: ${(error as Error).message}\n`);
    process.exit(64);
  }
  writeFileSync(args.out, sloRulesText(args));
  const shown = relative(process.cwd(), args.out);
  process.stdout.write(
    `wrote ${shown.startsWith('..') ? args.out : shown} (objective ${args.objective}, ${args.periodDays} days)\n`,
  );
}
