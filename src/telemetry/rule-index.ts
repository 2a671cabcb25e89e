/**
 * Matching of compiled target rules (see `rules.ts`): which rule of a rule set holds for a span.
 *
 * `match` runs for every finished span without a target, the in-process spans of the sidecar and
 * of host apps included, so its cost must not grow with the number of rules. Each rule is filed
 * under one of its exact-match conditions (its index key): the span name, the span kind or an
 * attribute, whichever of the rule's conditions is the most selective over the whole rule set. A
 * span then looks up, per key the rule set uses, the rules filed under its own value, and checks
 * only those (and the few rules that have no such condition, only `service.name`). Rules that name
 * a service are kept apart per service and looked up once per service change, so in-process spans
 * (always the same service) reuse the group found for the previous span.
 *
 * First match wins in file order, exactly: candidates are tried in file order within each bucket,
 * and a bucket is walked only up to the file index of the best match found so far, so the match
 * with the lowest file index among all buckets wins. Nothing is allocated per call.
 */
import type { Attributes, SpanKind } from '@opentelemetry/api';
import type { RuleMatch, SpanView, TargetRuleSet } from './span-view.ts';

/** A compiled rule: its conditions, split by what they test, and the answer it gives. */
export interface CompiledRule {
  /** Position in the document: the lower wins. */
  readonly index: number;
  /** Its `service.name` condition. */
  readonly service: string | undefined;
  /** Its `span.name` condition. */
  readonly name: string | undefined;
  /** Its `span.kind` condition. */
  readonly kind: SpanKind | undefined;
  /** Attribute conditions: `attributes[keys[i]] === values[i]` for every `i`. */
  readonly keys: readonly string[];
  readonly values: readonly (string | number | boolean)[];
  readonly result: RuleMatch;
}

/** A compiled rule set and how many rules it holds. */
export type SizedRuleSet = TargetRuleSet & { readonly size: number };

/** What an index key reads of a span. */
const NAME = 0;
const KIND = 1;
const ATTRIBUTE = 2;
type Field = typeof NAME | typeof KIND | typeof ATTRIBUTE;

/** Index key of the span name (not an attribute name: `span.name` in `match` is the span name). */
const NAME_KEY = 'span.name';
/** Index key of the span kind. */
const KIND_KEY = 'span.kind';

/** One index key of a group: the rules filed under it, by the value their condition wants. */
interface Probe {
  readonly field: Field;
  /** The attribute name, for `ATTRIBUTE`. */
  readonly key: string;
  /** Rules by wanted value, each list in file order. Map keys compare like `===` (no NaN in rules). */
  readonly buckets: ReadonlyMap<unknown, readonly CompiledRule[]>;
}

/** Whether every condition of `rule` holds for `span` (the service is the group's business). */
function holds(rule: CompiledRule, span: SpanView): boolean {
  if (rule.name !== undefined && rule.name !== span.name) return false;
  if (rule.kind !== undefined && rule.kind !== span.kind) return false;
  const { keys, values } = rule;
  if (keys.length === 0) return true;
  const attributes = span.attributes;
  for (let i = 0; i < keys.length; i++) {
    // Strict equality: a rule's 200 does not match the string "200" (docs/rules.md says so).
    if (attributes[keys[i] as string] !== values[i]) return false;
  }
  return true;
}

/** The first rule of `rules` (in file order) that holds for `span`, among those before `limit`. */
function firstIn(rules: readonly CompiledRule[], span: SpanView, limit: number): CompiledRule | undefined {
  for (let i = 0; i < rules.length; i++) {
    const rule = rules[i] as CompiledRule;
    if (rule.index >= limit) return undefined;
    if (holds(rule, span)) return rule;
  }
  return undefined;
}

/** The value `rule` wants for index key `key`. */
function wanted(rule: CompiledRule, key: string): unknown {
  if (key === NAME_KEY) return rule.name;
  if (key === KIND_KEY) return rule.kind;
  return rule.values[rule.keys.indexOf(key)];
}

/**
 * The index key of every rule (`undefined`: it has none, only `service.name`). A key's selectivity
 * is how many rules share one value of it on average (rules using it / distinct values): a route
 * or a span name is one rule per value, a method or a kind hundreds. Each rule takes its most
 * selective key, and of equally selective ones the key more rules use, so that spans probe few keys.
 */
function indexKeys(rules: readonly CompiledRule[]): (string | undefined)[] {
  const users = new Map<string, number>();
  const values = new Map<string, Set<unknown>>();
  const keysOf = (rule: CompiledRule): string[] => [
    ...(rule.name === undefined ? [] : [NAME_KEY]),
    ...rule.keys,
    ...(rule.kind === undefined ? [] : [KIND_KEY]),
  ];
  for (const rule of rules) {
    for (const key of keysOf(rule)) {
      users.set(key, (users.get(key) ?? 0) + 1);
      const seen = values.get(key) ?? new Set();
      seen.add(wanted(rule, key));
      values.set(key, seen);
    }
  }
  return rules.map((rule) => {
    let best: string | undefined;
    let bestShare = Number.POSITIVE_INFINITY;
    let bestUsers = 0;
    for (const key of keysOf(rule)) {
      const n = users.get(key) ?? 0;
      const share = n / (values.get(key)?.size ?? 1);
      if (share < bestShare || (share === bestShare && n > bestUsers)) {
        best = key;
        bestShare = share;
        bestUsers = n;
      }
    }
    return best;
  });
}

/** Rules of one group (those naming one service, or those naming none), indexed. */
class RuleGroup {
  readonly #probes: readonly Probe[];
  /** Rules without an index key, in file order. */
  readonly #rest: readonly CompiledRule[];

  constructor(rules: readonly CompiledRule[], keys: readonly (string | undefined)[]) {
    const byKey = new Map<string, Map<unknown, CompiledRule[]>>();
    const rest: CompiledRule[] = [];
    // In file order, so that every bucket is in file order.
    for (const rule of rules) {
      const key = keys[rule.index];
      if (key === undefined) {
        rest.push(rule);
        continue;
      }
      const buckets = byKey.get(key) ?? new Map<unknown, CompiledRule[]>();
      byKey.set(key, buckets);
      const value = wanted(rule, key);
      const bucket = buckets.get(value);
      if (bucket === undefined) buckets.set(value, [rule]);
      else bucket.push(rule);
    }
    this.#probes = Object.freeze(
      [...byKey].map(([key, buckets]): Probe => {
        const field = key === NAME_KEY ? NAME : key === KIND_KEY ? KIND : ATTRIBUTE;
        return Object.freeze({ field, key, buckets });
      }),
    );
    this.#rest = Object.freeze(rest);
  }

  /** The first rule of the group that holds for `span`, among those before file index `limit`. */
  first(span: SpanView, limit: number): CompiledRule | undefined {
    let found: CompiledRule | undefined;
    let before = limit;
    const probes = this.#probes;
    // Read once: an in-process span's view reads each through two getters.
    const attributes = probes.length === 0 ? undefined : span.attributes;
    for (let p = 0; p < probes.length; p++) {
      const probe = probes[p] as Probe;
      const value =
        probe.field === NAME
          ? span.name
          : probe.field === KIND
            ? span.kind
            : (attributes as Attributes)[probe.key];
      if (value === undefined) continue;
      const bucket = probe.buckets.get(value);
      if (bucket === undefined) continue;
      const rule = firstIn(bucket, span, before);
      if (rule !== undefined) {
        found = rule;
        before = rule.index;
      }
    }
    return firstIn(this.#rest, span, before) ?? found;
  }
}

/**
 * Compiled, indexed rules (see the module comment). The rules naming a service are grouped per
 * service, apart from those naming none: a span's candidates are its service's group and the
 * general one, and the lower file index of their two first matches wins.
 */
export class CompiledRuleSet implements TargetRuleSet {
  readonly size: number;
  readonly #byService: ReadonlyMap<string, RuleGroup>;
  readonly #anyService: RuleGroup | undefined;
  /**
   * The group of the service of the previous span: in-process spans are all of one service, so
   * they find it here without a lookup; a change of service costs one map lookup.
   */
  #lastService: string | undefined;
  #lastGroup: RuleGroup | undefined;

  /** @param rules the rules, in file order (`rules[i].index === i`). */
  constructor(rules: readonly CompiledRule[]) {
    this.size = rules.length;
    const keys = indexKeys(rules);
    const perService = new Map<string, CompiledRule[]>();
    const general: CompiledRule[] = [];
    for (const rule of rules) {
      if (rule.service === undefined) general.push(rule);
      else {
        const list = perService.get(rule.service);
        if (list === undefined) perService.set(rule.service, [rule]);
        else list.push(rule);
      }
    }
    const byService = new Map<string, RuleGroup>();
    for (const [service, list] of perService) byService.set(service, new RuleGroup(list, keys));
    this.#byService = byService;
    this.#anyService = general.length === 0 ? undefined : new RuleGroup(general, keys);
  }

  /** The first rule (in file order) whose every condition holds for `span`, or `undefined`. */
  match(span: SpanView): RuleMatch | undefined {
    if (this.size === 0) return undefined;
    let found: CompiledRule | undefined;
    if (this.#byService.size > 0) {
      const service = span.service;
      if (service !== this.#lastService) {
        this.#lastService = service;
        this.#lastGroup = this.#byService.get(service);
      }
      found = this.#lastGroup?.first(span, this.size);
    }
    const general = this.#anyService?.first(span, found === undefined ? this.size : found.index);
    return (general ?? found)?.result;
  }
}
