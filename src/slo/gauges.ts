/**
 * The `perf.slo.*` gauges: each operation's objective, the share of its error budget left, its burn
 * rate over each alert window and whether each severity's alert is firing, read at each collection
 * from the last evaluation.
 *
 * Why attribute sets made once per operation: at 1,000 operations the gauges are 9,000 series, and
 * as SDK observable gauges each observation's attributes were copied and hashed at every
 * collection of every reader (about 19 ms per collection, measured in a summary request). Given to
 * perf-sidecar's own aggregation (`OperationMetrics`), a collection is a data point per series, and
 * the in-process windows' reader, which never reads them, is not handed them at all.
 */
import type { Attributes } from '@opentelemetry/api';
import { roundTo } from '../shared/numbers.ts';
import type { GaugeSink } from '../telemetry/metric-sink.ts';
import type { Judgement } from './judge.ts';
import { fingerprintOf } from './records.ts';
import {
  ATTR_SLO_SEVERITY,
  ATTR_SLO_WINDOW,
  METRIC_SLO_ALERT_ACTIVE,
  METRIC_SLO_BUDGET_REMAINING,
  METRIC_SLO_BURN_RATE,
  METRIC_SLO_OBJECTIVE,
} from './semconv.ts';
import { type BurnSeverity, WINDOW_MINUTES, windowLabel } from './windows.ts';

/** The burn-rate alert severities, in the order of {@link GaugeAttributes.severities}. */
export const SEVERITIES: readonly BurnSeverity[] = ['page', 'ticket'];

/** One operation's gauge attribute sets and alert fingerprints, made once and frozen. */
export interface GaugeAttributes {
  /** `service.name` and `perf.operation`. */
  readonly base: Attributes;
  /** The base and each alert window, in the order of `WINDOW_MINUTES`. */
  readonly windows: readonly Attributes[];
  /** The base and each severity, in the order of {@link SEVERITIES}. */
  readonly severities: readonly Attributes[];
  /** The fingerprint of each severity's alert, in the order of {@link SEVERITIES}. */
  readonly fingerprints: readonly string[];
}

/** The gauge attribute sets of an operation of `service`. */
export function gaugeAttributes(service: string, operation: string): GaugeAttributes {
  const base = Object.freeze({ 'service.name': service, 'perf.operation': operation });
  return {
    base,
    windows: WINDOW_MINUTES.map((minutes) =>
      Object.freeze({ ...base, [ATTR_SLO_WINDOW]: windowLabel(minutes) }),
    ),
    severities: SEVERITIES.map((severity) => Object.freeze({ ...base, [ATTR_SLO_SEVERITY]: severity })),
    fingerprints: SEVERITIES.map((severity) => fingerprintOf(service, operation, severity)),
  };
}

/** What the gauges read of one evaluated operation. */
export interface GaugeSource {
  readonly judgement: Judgement;
  readonly attributes: GaugeAttributes;
}

/**
 * Defines the four gauges on `sink`: `judged` gives the operations of the last evaluation, and
 * `firing` whether the alert of a fingerprint is firing.
 */
export function defineBudgetGauges(
  sink: GaugeSink,
  judged: () => Iterable<GaugeSource>,
  firing: (fingerprint: string) => boolean,
): void {
  sink.gauge(
    {
      name: METRIC_SLO_OBJECTIVE,
      description: 'Objective of each operation: share of runs that must be good',
      unit: '',
    },
    (observe) => {
      for (const j of judged()) observe(j.judgement.objective.objective, j.attributes.base);
    },
  );
  sink.gauge(
    {
      name: METRIC_SLO_BUDGET_REMAINING,
      description: "Share of each operation's error budget left in its period (negative: overspent)",
      unit: '',
    },
    (observe) => {
      for (const j of judged()) observe(roundTo(j.judgement.budgetRemaining, 6), j.attributes.base);
    },
  );
  sink.gauge(
    {
      name: METRIC_SLO_BURN_RATE,
      description: "Burn rate of each operation's error budget over each alert window",
      unit: '',
    },
    (observe) => {
      for (const j of judged()) {
        for (const [i, minutes] of WINDOW_MINUTES.entries()) {
          const rate = j.judgement.burnRates.get(minutes);
          observe(roundTo(rate ?? 0, 6), j.attributes.windows[i] as Attributes);
        }
      }
    },
  );
  sink.gauge(
    {
      name: METRIC_SLO_ALERT_ACTIVE,
      description: 'Whether a burn-rate alert of each severity is firing for each operation (1) or not (0)',
      unit: '',
    },
    (observe) => {
      for (const j of judged()) {
        for (const [i, fingerprint] of j.attributes.fingerprints.entries()) {
          observe(firing(fingerprint) ? 1 : 0, j.attributes.severities[i] as Attributes);
        }
      }
    },
  );
}
