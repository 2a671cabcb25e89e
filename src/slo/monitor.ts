/**
 * The budget monitor: every minute it brings the budget book up to date (from Redis: every
 * instance's counts; in memory-only mode: this process's collected minutes), judges every operation
 * with a target against its objective, and, on the instance that holds the evaluator lease (every
 * instance without Redis), opens and closes burn-rate episodes. Its judgements feed the summary and
 * the `perf.slo.*` gauges on every instance.
 *
 * It runs beside the request path, never on it: a tick is a timer, its Redis work is a handful of
 * commands (see `redis-source.ts`), and a failed tick is logged and tried again the next minute.
 */
import { randomUUID } from 'node:crypto';
import type { Meter } from '@opentelemetry/api';
import type { Redis } from 'ioredis';
import type { AlertInput, AlertTrace } from '../alerts/index.ts';
import { alertLabels, fingerprintOf } from '../alerts/internal.ts';
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { roundTo } from '../shared/numbers.ts';
import type { WindowTotals } from '../telemetry/minutes.ts';
import { BudgetBook, type OperationBook } from './book.ts';
import { type EpisodeStore, MemoryEpisodes, type RecordEmitter, RedisEpisodes } from './episodes.ts';
import { sloFieldName } from './fields.ts';
import { type FiringRow, type Judgement, type JudgeSettings, judge } from './judge.ts';
import { RedisLease } from './lease.ts';
import type { Objective, ObjectiveFacts, ObjectiveTable } from './objectives.ts';
import { RedisBudgetSource } from './redis-source.ts';
import {
  ALERT_TYPE_SLO_BURN_RATE,
  ATTR_SLO_SEVERITY,
  ATTR_SLO_WINDOW,
  METRIC_SLO_ALERT_ACTIVE,
  METRIC_SLO_BUDGET_REMAINING,
  METRIC_SLO_BURN_RATE,
  METRIC_SLO_OBJECTIVE,
  SLO_KEYS,
} from './semconv.ts';
import { ALERT_WINDOWS, type BurnSeverity, WINDOW_MINUTES, windowLabel } from './windows.ts';

const MINUTE_MS = 60_000;
const SEVERITIES: readonly BurnSeverity[] = ['page', 'ticket'];

/** What the spans of an operation told (the span evaluator's `budgetOf`). */
export interface BudgetFacts extends ObjectiveFacts {
  /** The latest bad run with valid ids. */
  readonly badRun?: AlertTrace | undefined;
}

/** Options of {@link BudgetMonitor}. */
export interface BudgetMonitorOptions {
  /** The objectives in force. */
  readonly objectives: ObjectiveTable;
  /** Judgement settings (`PERF_SLO_MIN_RUNS`, `PERF_SLO_BURN_RATE`). */
  readonly settings: JudgeSettings;
  /** Most operations with a budget (`PERF_SLO_MAX_OPERATIONS`). */
  readonly maxOperations: number;
  /** Where memory-only records go (the alert sink). */
  readonly alerts: RecordEmitter;
  /** The own `service.name` (the rollups' unscoped operations belong to it). */
  readonly ownService: string;
  /** What the spans of an operation said (`undefined`: this process saw none of it). */
  readonly facts?: (operation: string, service: string | undefined) => BudgetFacts | undefined;
  /** Whether an operation has a target (memory-only mode counts only those). */
  readonly hasTarget?: (operation: string, service: string | undefined) => boolean;
  /** With Redis: the connection, key prefix, the performance alert list and its cap, the lease time. */
  readonly redis?: {
    readonly client: Promise<Redis>;
    readonly prefix: string;
    readonly list: string;
    readonly listMax: number;
    readonly leaseMs: number;
  };
  /** Time between evaluations, ms. Default 60 000 (then aligned to minutes, `offsetMs` past each). */
  readonly intervalMs?: number;
  /** How long after a minute ends it is evaluated, ms (instances write their minute first). Default 10 000. */
  readonly offsetMs?: number;
  /** Clock, ms. Default `Date.now`. */
  readonly now?: () => number;
  /** Meter for the `perf.slo.*` gauges. Default: none. */
  readonly meter?: Meter;
}

/** An operation's error budget as the summary shows it. */
export interface BudgetFigures {
  readonly objective: number;
  readonly period_days: number;
  /** Whether failed runs within the target count as bad. */
  readonly errors_are_bad: boolean;
  readonly period_runs: number;
  readonly period_bad_runs: number;
  /** Good share so far in the period; `null` without runs. */
  readonly good_share: number | null;
  /** Share of the period's budget left (1 untouched, 0 spent, negative overspent). */
  readonly budget_remaining: number;
  /** Bad runs the period can still take (negative: over budget). */
  readonly budget_remaining_runs: number;
  /** Burn rate per alert window (`5m` ... `3d`); `null` for a window without runs. */
  readonly burn_rates: Readonly<Record<string, number | null>>;
  /** Burn-rate alerts firing now. */
  readonly alerts: readonly BurnSeverity[];
}

interface Judged {
  readonly book: OperationBook;
  readonly field: string;
  readonly service: string;
  readonly judgement: Judgement;
}

/** See the module comment. */
export class BudgetMonitor {
  readonly book: BudgetBook;
  readonly #options: BudgetMonitorOptions;
  readonly #now: () => number;
  readonly #source: RedisBudgetSource | undefined;
  readonly #lease: RedisLease | undefined;
  readonly #episodes: EpisodeStore;
  #judged = new Map<string, Judged>();
  /** Fingerprints of the episodes open at the last tick. */
  #open = new Set<string>();
  #leader = false;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #failing = false;
  #fullLogged = false;
  #evaluations = 0;

  constructor(options: BudgetMonitorOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.book = new BudgetBook(options.maxOperations);
    const redis = options.redis;
    if (redis) {
      this.#source = new RedisBudgetSource(redis.client, redis.prefix);
      this.#lease = new RedisLease(redis.client, `${redis.prefix}${SLO_KEYS.lease}`, redis.leaseMs);
      this.#episodes = new RedisEpisodes({
        client: redis.client,
        prefix: redis.prefix,
        list: redis.list,
        listMax: redis.listMax,
        lease: { key: this.#lease.key, token: this.#lease.token },
      });
    } else {
      this.#episodes = new MemoryEpisodes(options.alerts);
    }
    if (options.meter) this.#gauges(options.meter);
  }

  /** Whether this instance held the evaluator lease at its last evaluation (always, without Redis). */
  get leader(): boolean {
    return this.#leader;
  }

  /** This instance's lease token (with Redis): what the lease key holds while it evaluates. */
  get leaseToken(): string | undefined {
    return this.#lease?.token;
  }

  /** Evaluations run since start. */
  get evaluations(): number {
    return this.#evaluations;
  }

  /** Redis commands the last evaluation sent (reads, lease, episodes; records written excepted). */
  get lastCommands(): number {
    return this.#source ? this.#source.lastCommands + 2 : 0;
  }

  /**
   * Memory-only mode: counts a collected minute (the windows' listener). Only operations with a
   * target are counted. Ignored with Redis (the counts are read back from every instance's writes).
   */
  recordMinute(minute: number, totals: WindowTotals): void {
    if (this.#source) return;
    const add = (service: string | undefined, operations: WindowTotals['operations']) => {
      for (const [operation, agg] of operations) {
        if (agg.count === 0 || !(this.#options.hasTarget?.(operation, service) ?? true)) continue;
        const over = agg.breaches ?? 0;
        this.book.entry(sloFieldName(service, operation), service, operation)?.addMinute(minute, {
          runs: agg.count,
          over,
          failed: Math.max(0, agg.errors - (agg.breachedErrors ?? 0)),
        });
      }
    };
    add(undefined, totals.operations);
    for (const [service, part] of totals.services) add(service, part.operations);
  }

  /** Starts the evaluation timer. Idempotent. */
  start(): void {
    if (this.#timer) return;
    this.#schedule();
  }

  #schedule(): void {
    const interval = this.#options.intervalMs ?? MINUTE_MS;
    const offset = this.#options.offsetMs ?? 10_000;
    const now = this.#now();
    const delay = interval === MINUTE_MS ? MINUTE_MS - ((now - offset) % MINUTE_MS) : interval;
    this.#timer = setTimeout(() => {
      void this.evaluate().finally(() => {
        if (this.#timer) this.#schedule();
      });
    }, delay);
    this.#timer.unref();
  }

  /** Stops the timer, waits for a running evaluation and gives the lease up. */
  async stop(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#ticking;
    await this.#lease?.giveUp();
  }

  /** Runs one evaluation now (the timer's work). Never rejects: a failure is logged. */
  evaluate(): Promise<void> {
    this.#ticking ??= this.#tick().finally(() => {
      this.#ticking = undefined;
    });
    return this.#ticking;
  }

  async #tick(): Promise<void> {
    try {
      const nowMs = this.#now();
      const last = Math.floor(nowMs / MINUTE_MS) - 1;
      const specs = this.#source ? await this.#source.update(this.book, last) : new Map<string, Objective>();
      const judged = new Map<string, Judged>();
      for (const [field, book] of this.book.operations) {
        const facts = this.#options.facts?.(book.operation, book.service);
        const objective =
          facts !== undefined
            ? this.#options.objectives.resolve(book.operation, facts)
            : (specs.get(field) ?? this.#options.objectives.resolve(book.operation));
        const judgement = judge(book, objective, last, this.#options.settings);
        judged.set(field, { book, field, service: book.service ?? this.#options.ownService, judgement });
      }
      this.#judged = judged;
      if (this.book.refused > 0 && !this.#fullLogged) {
        this.#fullLogged = true;
        getLogger().warn(
          { maxOperations: this.book.maxOperations },
          'PERF_SLO_MAX_OPERATIONS reached: later operations have no error budget',
        );
      }
      this.#leader = this.#lease ? await this.#lease.take() : true;
      const open = await this.#episodes.open();
      if (this.#leader) await this.#transitions(open, nowMs);
      this.#open = new Set((await this.#episodes.open()).keys());
      this.#evaluations++;
      if (this.#failing) getLogger().info('error budget evaluation works again');
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) {
        getLogger().warn(
          { err: errorText(error) },
          'error budget evaluation failed; it is tried again next minute',
        );
      }
      this.#failing = true;
    }
  }

  async #transitions(open: Map<string, { id: string; startsAtMs: number }>, nowMs: number): Promise<void> {
    const firing: [Judged, BurnSeverity, FiringRow][] = [];
    for (const judged of this.#judged.values()) {
      for (const severity of SEVERITIES) {
        const fingerprint = this.#fingerprint(judged, severity);
        const row = judged.judgement.firing.get(severity);
        const episode = open.get(fingerprint);
        if (row && !episode) firing.push([judged, severity, row]);
        else if (!row && episode) {
          await this.#episodes.resolve(fingerprint, this.#input(judged, severity, undefined, nowMs, episode));
        }
      }
    }
    if (firing.length === 0) return;
    const runs = await this.#badRuns(firing.map(([judged]) => judged));
    for (const [judged, severity, row] of firing) {
      const input = this.#input(judged, severity, row, nowMs, undefined, runs.get(judged.field));
      await this.#episodes.fire(this.#fingerprint(judged, severity), input);
    }
  }

  /** The latest bad run of each operation: from this process's spans, or from what the instances wrote. */
  async #badRuns(judged: readonly Judged[]): Promise<Map<string, AlertTrace>> {
    const out = new Map<string, AlertTrace>();
    const remote: string[] = [];
    for (const j of judged) {
      const run = this.#options.facts?.(j.book.operation, j.book.service)?.badRun;
      if (run) out.set(j.field, run);
      else remote.push(j.field);
    }
    if (this.#source && remote.length > 0) {
      for (const [field, text] of await this.#source.badRuns(remote)) {
        const [traceId, spanId, sampled] = text.split(' ');
        if (traceId && spanId && /^[0-9a-f]{32}$/.test(traceId) && /^[0-9a-f]{16}$/.test(spanId)) {
          out.set(field, { trace_id: traceId, span_id: spanId, sampled: sampled === '1' });
        }
      }
    }
    return out;
  }

  #labels(judged: Judged, severity: BurnSeverity): AlertInput {
    return {
      type: ALERT_TYPE_SLO_BURN_RATE,
      service: judged.service,
      operation: judged.book.operation,
      labels: { severity },
      value: 0,
      threshold: 0,
      unit: 'x',
      summary: '-',
    };
  }

  #fingerprint(judged: Judged, severity: BurnSeverity): string {
    return fingerprintOf(alertLabels(this.#labels(judged, severity)));
  }

  /** The record of a transition: `row` when it fires, `episode` when it resolves. */
  #input(
    judged: Judged,
    severity: BurnSeverity,
    row: FiringRow | undefined,
    nowMs: number,
    episode: { id: string; startsAtMs: number } | undefined,
    trace?: AlertTrace,
  ): AlertInput {
    const { judgement, service } = judged;
    const operation = judged.book.operation;
    const window =
      row?.window ?? (ALERT_WINDOWS.find((w) => w.severity === severity) as (typeof ALERT_WINDOWS)[number]);
    const longBurn = row?.longBurn ?? judgement.burnRates.get(window.longMinutes) ?? 0;
    const shortBurn = row?.shortBurn ?? judgement.burnRates.get(window.shortMinutes) ?? 0;
    const threshold = row?.threshold ?? threshold0(window, judgement);
    const long = windowLabel(window.longMinutes);
    const short = windowLabel(window.shortMinutes);
    const left = Math.round(judgement.budgetRemaining * 100);
    const period = `${judgement.objective.periodDays}-day`;
    const summary = row
      ? `Operation "${operation}" of ${service} burns its error budget at ${longBurn.toFixed(1)}x over ${long} and ${shortBurn.toFixed(1)}x over ${short} (${severity} at ${threshold.toFixed(1)}x); ${left}% of its ${period} budget is left.`
      : `Operation "${operation}" of ${service} no longer burns its error budget at the ${severity} rate (${long}: ${longBurn.toFixed(1)}x, ${short}: ${shortBurn.toFixed(1)}x); ${left}% of its ${period} budget is left.`;
    return {
      ...this.#labels(judged, severity),
      severity,
      status: row ? 'firing' : 'resolved',
      value: roundTo(longBurn, 3),
      threshold: roundTo(threshold, 3),
      summary,
      timeMs: nowMs,
      ...(episode ? { startsAtMs: episode.startsAtMs } : {}),
      ...(trace ? { trace } : {}),
      slo: {
        objective: judgement.objective.objective,
        period_days: judgement.objective.periodDays,
        long_window: long,
        short_window: short,
        long_burn_rate: roundTo(longBurn, 3),
        short_burn_rate: roundTo(shortBurn, 3),
        burn_threshold: roundTo(threshold, 3),
        long_runs: row?.longRuns ?? 0,
        long_bad_runs: row?.longBad ?? 0,
        budget_remaining: roundTo(judgement.budgetRemaining, 4),
        episode_id: episode?.id ?? randomUUID(),
      },
    };
  }

  /** The budget of an operation of `service` (default: the own one) at the last evaluation. */
  figures(operation: string, service?: string): BudgetFigures | undefined {
    const judged = this.#judged.get(sloFieldName(service, operation));
    if (!judged) return undefined;
    const j = judged.judgement;
    const burnRates: Record<string, number | null> = {};
    for (const minutes of WINDOW_MINUTES) {
      const rate = j.burnRates.get(minutes);
      burnRates[windowLabel(minutes)] = rate === undefined ? null : roundTo(rate, 3);
    }
    return {
      objective: j.objective.objective,
      period_days: j.objective.periodDays,
      errors_are_bad: j.objective.errors,
      period_runs: j.periodRuns,
      period_bad_runs: j.periodBad,
      good_share: j.goodShare === undefined ? null : roundTo(j.goodShare, 6),
      budget_remaining: roundTo(j.budgetRemaining, 4),
      budget_remaining_runs: roundTo(j.budgetRemainingRuns, 2),
      burn_rates: burnRates,
      alerts: SEVERITIES.filter((s) => this.#open.has(this.#fingerprint(judged, s))),
    };
  }

  #gauges(meter: Meter): void {
    const each = (fn: (judged: Judged, base: Record<string, string>) => void) => {
      for (const judged of this.#judged.values()) {
        fn(judged, { 'service.name': judged.service, 'perf.operation': judged.book.operation });
      }
    };
    meter
      .createObservableGauge(METRIC_SLO_OBJECTIVE, {
        description: 'Objective of each operation: share of runs that must be good',
      })
      .addCallback((result) => each((j, base) => result.observe(j.judgement.objective.objective, base)));
    meter
      .createObservableGauge(METRIC_SLO_BUDGET_REMAINING, {
        description: "Share of each operation's error budget left in its period (negative: overspent)",
      })
      .addCallback((result) =>
        each((j, base) => result.observe(roundTo(j.judgement.budgetRemaining, 6), base)),
      );
    meter
      .createObservableGauge(METRIC_SLO_BURN_RATE, {
        description: "Burn rate of each operation's error budget over each alert window",
      })
      .addCallback((result) =>
        each((j, base) => {
          for (const minutes of WINDOW_MINUTES) {
            const rate = j.judgement.burnRates.get(minutes);
            result.observe(roundTo(rate ?? 0, 6), { ...base, [ATTR_SLO_WINDOW]: windowLabel(minutes) });
          }
        }),
      );
    meter
      .createObservableGauge(METRIC_SLO_ALERT_ACTIVE, {
        description: 'Whether a burn-rate alert of each severity is firing for each operation (1) or not (0)',
      })
      .addCallback((result) =>
        each((j, base) => {
          for (const severity of SEVERITIES) {
            const active = this.#open.has(this.#fingerprint(j, severity)) ? 1 : 0;
            result.observe(active, { ...base, [ATTR_SLO_SEVERITY]: severity });
          }
        }),
      );
  }
}

function threshold0(window: (typeof ALERT_WINDOWS)[number], judgement: Judgement): number {
  return (window.budgetShare * judgement.objective.periodDays * 1440) / window.longMinutes;
}
