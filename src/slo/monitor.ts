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
import type { AlertTrace } from '../alerts/index.ts';
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { roundTo } from '../shared/numbers.ts';
import type { RedisClient } from '../shared/redis.ts';
import type { GaugeSink } from '../telemetry/metric-sink.ts';
import type { WindowTotals } from '../telemetry/minutes.ts';
import { OTHER_OPERATION } from '../telemetry/semconv.ts';
import { BudgetBook, type OperationBook } from './book.ts';
import {
  type Episode,
  type EpisodeStore,
  MemoryEpisodes,
  type RecordEmitter,
  RedisEpisodes,
} from './episodes.ts';
import { sloFieldName } from './fields.ts';
import { defineBudgetGauges, type GaugeAttributes, gaugeAttributes, SEVERITIES } from './gauges.ts';
import { type FiringRow, type Judgement, type JudgeSettings, judge } from './judge.ts';
import { RedisLease } from './lease.ts';
import type { Objective, ObjectiveFacts, ObjectiveTable } from './objectives.ts';
import { orphanInput, rowOf, transitionInput } from './records.ts';
import { RedisBudgetSource, yieldTurn } from './redis-source.ts';
import { SLO_KEYS } from './semconv.ts';
import { type BurnSeverity, WINDOW_MINUTES, windowLabel } from './windows.ts';

const MINUTE_MS = 60_000;

/** What the spans of an operation told (the span evaluator's `budgetOf`). */
export interface BudgetFacts extends ObjectiveFacts {
  /** The latest bad run with valid ids. */
  readonly badRun?: AlertTrace | undefined;
  /** When it ended, ms since epoch. */
  readonly badAtMs?: number;
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
    readonly client: Promise<RedisClient>;
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
  /**
   * Where the `perf.slo.*` gauges go: `startTelemetry` gives its own aggregation (see gauges.ts); a
   * meter's observable gauges with `meterGauges(meter)`. Default: none.
   */
  readonly gauges?: GaugeSink;
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
  /** When these figures were judged (the last evaluation), ISO 8601: they stay as they were while Redis is away. */
  readonly evaluated_at: string;
}

/** An operation judged at the last evaluation. */
export interface Judged {
  readonly book: OperationBook;
  readonly field: string;
  readonly service: string;
  readonly judgement: Judgement;
  /** Its gauge attribute sets and alert fingerprints, kept from one evaluation to the next. */
  readonly attributes: GaugeAttributes;
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
  /** Fingerprints of the episodes open after the last tick. */
  #open = new Set<string>();
  #leader = false;
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | undefined;
  #failing = false;
  #fullLogged = false;
  #evaluatedAtMs = 0;
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
        notify: (record) => options.alerts.notify?.(record),
      });
    } else {
      this.#episodes = new MemoryEpisodes(options.alerts);
    }
    if (options.gauges) {
      defineBudgetGauges(
        options.gauges,
        () => this.#judged.values(),
        (fingerprint) => this.#open.has(fingerprint),
      );
    }
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

  /**
   * Memory-only mode: counts a collected minute (the windows' listener). Only operations with a
   * target are counted. Ignored with Redis (the counts are read back from every instance's writes).
   */
  recordMinute(minute: number, totals: WindowTotals): void {
    if (this.#source) return;
    const add = (service: string | undefined, operations: WindowTotals['operations']) => {
      for (const [operation, agg] of operations) {
        if (agg.count === 0 || operation === OTHER_OPERATION) continue;
        if (!(this.#options.hasTarget?.(operation, service) ?? true)) continue;
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
      this.book.prune(last);
      const judged = new Map<string, Judged>();
      let count = 0;
      for (const [field, book] of this.book.operations) {
        // `_other` is many operations under one name: no objective can speak for it.
        if (book.operation === OTHER_OPERATION) continue;
        // A turn of the event loop every 100 operations: about 1 ms of judging at a time.
        if (++count % 100 === 0) await yieldTurn();
        const facts = this.#options.facts?.(book.operation, book.service);
        const objective =
          facts !== undefined
            ? this.#options.objectives.resolve(book.operation, facts)
            : (specs.get(field) ?? this.#options.objectives.resolve(book.operation));
        const judgement = judge(book, objective, last, this.#options.settings);
        const service = book.service ?? this.#options.ownService;
        const attributes = this.#judged.get(field)?.attributes ?? gaugeAttributes(service, book.operation);
        judged.set(field, { book, field, service, judgement, attributes });
      }
      this.#judged = judged;
      this.#evaluatedAtMs = nowMs;
      if (this.book.refused > 0 && !this.#fullLogged) {
        this.#fullLogged = true;
        getLogger().warn(
          { maxOperations: this.book.maxOperations },
          'PERF_SLO_MAX_OPERATIONS reached: later operations have no error budget',
        );
      }
      this.#leader = this.#lease ? await this.#lease.take() : true;
      const open = await this.#episodes.open();
      if (this.#leader) await this.#transitions(open, nowMs, last);
      this.#open = new Set(open.keys());
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

  /**
   * Opens the episodes whose severity fires and closes those whose severity no longer does
   * (`open` is kept up to date). An open episode stays open while a row of its severity is only
   * unconfirmed (a quiet operation between runs); an episode of an operation no longer judged
   * (no runs left in the book) is closed.
   */
  async #transitions(open: Map<string, Episode>, nowMs: number, last: number): Promise<void> {
    const seen = new Set<string>();
    const firing: [Judged, BurnSeverity, FiringRow, string][] = [];
    for (const judged of this.#judged.values()) {
      for (const severity of SEVERITIES) {
        const fingerprint = this.#fingerprint(judged, severity);
        seen.add(fingerprint);
        const row = judged.judgement.firing.get(severity);
        const episode = open.get(fingerprint);
        if (row && !episode) firing.push([judged, severity, row, fingerprint]);
        else if (!row && episode) {
          const rows = judged.judgement.rows;
          if (rows.some((r) => r.window.severity === severity && r.unconfirmed)) continue;
          const at = rows.find(
            (r) => r.window.severity === severity && r.window.longMinutes === episode.longMinutes,
          );
          const input = transitionInput(judged, severity, at ?? rowOf(rows, severity), nowMs, episode);
          if (await this.#episodes.resolve(fingerprint, input)) open.delete(fingerprint);
        }
      }
    }
    for (const [fingerprint, episode] of open) {
      if (seen.has(fingerprint)) continue;
      if (await this.#episodes.resolve(fingerprint, orphanInput(episode, nowMs))) open.delete(fingerprint);
    }
    if (firing.length === 0) return;
    const runs = await this.#badRuns(
      firing.map(([judged, , row]) => [judged, row]),
      nowMs,
      last,
    );
    for (const [judged, severity, row, fingerprint] of firing) {
      const episode: Episode = {
        id: randomUUID(),
        startsAtMs: nowMs,
        field: judged.field,
        service: judged.service,
        operation: judged.book.operation,
        severity,
        longMinutes: row.window.longMinutes,
      };
      const input = transitionInput(
        judged,
        severity,
        row,
        nowMs,
        undefined,
        runs.get(judged.field),
        episode.id,
      );
      if (await this.#episodes.fire(fingerprint, episode, input)) open.set(fingerprint, episode);
    }
  }

  /**
   * The latest bad run of each operation, from this process's spans or what the instances wrote,
   * whichever is newer; none older than the long window of the row that fires.
   */
  async #badRuns(
    judged: readonly (readonly [Judged, FiringRow])[],
    nowMs: number,
    last: number,
  ): Promise<Map<string, AlertTrace>> {
    const found = new Map<string, { trace: AlertTrace; atMs: number }>();
    for (const [j] of judged) {
      const facts = this.#options.facts?.(j.book.operation, j.book.service);
      if (facts?.badRun) found.set(j.field, { trace: facts.badRun, atMs: facts.badAtMs ?? 0 });
    }
    if (this.#source) {
      const written = await this.#source.badRuns(
        judged.map(([j]) => j.field),
        last,
      );
      for (const [field, text] of written) {
        const [traceId, spanId, sampled, ms] = text.split(' ');
        const atMs = Number(ms);
        if (!traceId || !spanId || !/^[0-9a-f]{32}$/.test(traceId) || !/^[0-9a-f]{16}$/.test(spanId))
          continue;
        if ((found.get(field)?.atMs ?? -1) >= atMs) continue;
        found.set(field, { trace: { trace_id: traceId, span_id: spanId, sampled: sampled === '1' }, atMs });
      }
    }
    const out = new Map<string, AlertTrace>();
    for (const [j, row] of judged) {
      const run = found.get(j.field);
      if (run && run.atMs >= nowMs - row.window.longMinutes * MINUTE_MS) out.set(j.field, run.trace);
    }
    return out;
  }

  #fingerprint(judged: Judged, severity: BurnSeverity): string {
    return judged.attributes.fingerprints[SEVERITIES.indexOf(severity)] as string;
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
      evaluated_at: new Date(this.#evaluatedAtMs).toISOString(),
    };
  }
}
