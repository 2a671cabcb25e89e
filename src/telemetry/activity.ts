/**
 * What the summary's list of services says about each one: which operations it ran in the window,
 * how many times, how many failed and how many broke their target. Computed alike from the
 * in-memory minutes and from the rollups' per-service summaries, so that both give one answer.
 */
import type { DurationAggregate } from './aggregate.ts';

/** One service's activity over a window. */
export interface ServiceActivity {
  /** Operations with at least one run in the window. */
  readonly operations: Set<string>;
  /** Runs of those operations. */
  count: number;
  /** Of which failed. */
  errors: number;
  /** Of which took longer than their target. */
  breaches: number;
}

/** A new, empty activity. */
export function emptyActivity(): ServiceActivity {
  return { operations: new Set(), count: 0, errors: 0, breaches: 0 };
}

/** Adds per-operation aggregates (one service's) to an activity. */
export function addOperations(
  into: ServiceActivity,
  operations: ReadonlyMap<string, DurationAggregate>,
): void {
  for (const [name, agg] of operations) {
    if (agg.count <= 0) continue;
    into.operations.add(name);
    into.count += agg.count;
    into.errors += agg.errors;
    into.breaches += agg.breaches ?? 0;
  }
}

/** Adds `from` into `into` (operation sets united). */
export function mergeActivity(into: ServiceActivity, from: ServiceActivity): void {
  for (const name of from.operations) into.operations.add(name);
  into.count += from.count;
  into.errors += from.errors;
  into.breaches += from.breaches;
}

/** Activities of the own service and of every other one. */
export interface ActivityByService {
  /** The own service's (`undefined`: none in the window). */
  own: ServiceActivity | undefined;
  /** Other services', by recorded name. */
  readonly services: Map<string, ServiceActivity>;
}

/** Adds `from` into `into`, service by service. */
export function mergeActivities(into: ActivityByService, from: ActivityByService): void {
  if (from.own) {
    into.own ??= emptyActivity();
    mergeActivity(into.own, from.own);
  }
  for (const [service, activity] of from.services) {
    let known = into.services.get(service);
    if (!known) {
      known = emptyActivity();
      into.services.set(service, known);
    }
    mergeActivity(known, activity);
  }
}

/** The activities in per-service operation figures (in-memory minutes, unsaved rollup minutes). */
export function activitiesOf(totals: {
  readonly operations: ReadonlyMap<string, DurationAggregate>;
  readonly services?: ReadonlyMap<string, { readonly operations: ReadonlyMap<string, DurationAggregate> }>;
}): ActivityByService {
  const out: ActivityByService = { own: undefined, services: new Map() };
  const own = emptyActivity();
  addOperations(own, totals.operations);
  if (own.count > 0) out.own = own;
  for (const [service, part] of totals.services ?? []) {
    const activity = emptyActivity();
    addOperations(activity, part.operations);
    if (activity.count > 0) out.services.set(service, activity);
  }
  return out;
}

/** The activity of one service (`undefined`: the own one) in its operations' figures. */
export function activityOfService(
  service: string | undefined,
  operations: ReadonlyMap<string, DurationAggregate>,
): ActivityByService {
  const activity = emptyActivity();
  addOperations(activity, operations);
  const out: ActivityByService = { own: undefined, services: new Map() };
  if (activity.count === 0) return out;
  if (service === undefined) out.own = activity;
  else out.services.set(service, activity);
  return out;
}
