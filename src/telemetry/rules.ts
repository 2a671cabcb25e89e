/**
 * Target rules: the targets of spans that do not carry `perf.target_seconds` themselves, read from
 * a YAML or JSON document (`PERF_RULES_FILE`, see docs/rules.md). A rule matches on the span's
 * service, name, kind and attributes; the first rule whose every condition holds gives the target
 * (in seconds, or a kind of the target table resolved when the document is read) and, optionally,
 * the operation name.
 *
 * The document is checked completely when it is read (a zod schema for its shape, then each rule's
 * meaning), and every problem is a {@link RulesError} naming the file, the place in the document
 * (`rules[3].match["http.route"]`) and what was expected: a rule set that loaded never fails later.
 * `match` runs for every finished span without a target, in-process spans included, so rules are
 * compiled into an index (`rule-index.ts`) whose cost per span does not grow with the number of
 * rules and which allocates nothing.
 */
import { createRequire } from 'node:module';
import { SpanKind } from '@opentelemetry/api';
import type * as Yaml from 'yaml';
import { z } from 'zod';
import { describeValue, PerfSidecarError } from '../shared/errors.ts';
import { accepts, isServiceName, MAX_SERVICE_NAME_LENGTH, parseOptions, valueAt } from '../shared/options.ts';
import { type ObjectiveInput, objectiveValueSchema, periodDaysSchema } from '../slo/index.ts';
import { MAX_TARGET_SECONDS, OPERATION_NAME_FORM, operationNameProblem } from './operations.ts';
import { type CompiledRule, CompiledRuleSet, type SizedRuleSet } from './rule-index.ts';
import type { RuleMatch } from './span-view.ts';

export type { SizedRuleSet } from './rule-index.ts';
export type { RuleMatch, TargetRuleSet } from './span-view.ts';

/** Most rules a document may hold. */
export const MAX_RULES = 1_000;
/** Most conditions one rule may hold. */
export const MAX_CONDITIONS = 16;
/** Longest string a condition may compare with, characters. */
export const MAX_CONDITION_VALUE_LENGTH = 1_024;
/** Longest attribute name a condition may test, characters. */
export const MAX_CONDITION_KEY_LENGTH = 256;
/** Largest rules document accepted, bytes (UTF-8). */
export const MAX_RULES_FILE_BYTES = 1024 * 1024;

/** Condition key that tests the span's `service.name` (its resource's). */
export const MATCH_SERVICE_NAME = 'service.name';
/** Condition key that tests the span's name. */
export const MATCH_SPAN_NAME = 'span.name';
/** Condition key that tests the span's kind (`server`, `client`, `internal`, `producer`, `consumer`). */
export const MATCH_SPAN_KIND = 'span.kind';

/** Values of a `span.kind` condition, in the OpenTelemetry API's numbering. */
const SPAN_KINDS: Readonly<Record<string, SpanKind>> = Object.freeze({
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  internal: SpanKind.INTERNAL,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
});

const DOCUMENT_FORM = 'a mapping with a rules list (YAML or JSON), for example "rules: []"';
const RULES_FORM = `a list of at most ${MAX_RULES} rules`;
const RULE_FORM =
  'a mapping with match, and target_seconds or kind (operation, objective, period_days, errors optional)';
const RULE_FIELDS = 'match, target_seconds, kind, operation, objective, period_days, errors';
const MATCH_FORM = `a mapping of 1 to ${MAX_CONDITIONS} conditions (attribute: value)`;
const CONDITION_VALUE_FORM = `a string (at most ${MAX_CONDITION_VALUE_LENGTH} characters), a finite number, or true or false`;
const CONDITION_KEY_FORM = `an attribute name of 1 to ${MAX_CONDITION_KEY_LENGTH} printable characters`;
const RESERVED_KEY_FORM = `${CONDITION_KEY_FORM}, other than __proto__`;
const TARGET_FORM = `a number of seconds greater than 0, at most ${MAX_TARGET_SECONDS}`;
const KIND_FORM = 'the name of a kind in the target table (PERF_TARGETS)';
const ONE_TARGET_FORM =
  'exactly one of target_seconds (a number of seconds) and kind (a kind of the target table)';

/** A rule's condition value as the document gives it. */
const conditionValueSchema = z.union([z.string().max(MAX_CONDITION_VALUE_LENGTH), z.number(), z.boolean()], {
  error: CONDITION_VALUE_FORM,
});

/**
 * Shape of one rule. Each schema's error message is its accepted form; the meaning (how many
 * conditions, which kind, one target) is checked when the rule is compiled.
 */
const ruleSchema = z.strictObject(
  {
    /** Conditions, all of which must hold: `service.name`, `span.name`, `span.kind` or an attribute. */
    match: z.record(z.string(), conditionValueSchema, { error: MATCH_FORM }),
    /** The target, seconds. */
    target_seconds: z
      .number({ error: TARGET_FORM })
      .gt(0, { error: TARGET_FORM })
      .max(MAX_TARGET_SECONDS, { error: TARGET_FORM })
      .optional(),
    /** Instead of `target_seconds`: a kind (or operation) of the target table. */
    kind: z.string({ error: KIND_FORM }).optional(),
    /** The operation name; default the span's own. */
    operation: z.string({ error: OPERATION_NAME_FORM }).optional(),
    /** The operation's objective: share of runs that must be good. Default `PERF_SLO_OBJECTIVE`. */
    objective: objectiveValueSchema.optional(),
    /** The period of its error budget, days. Default `PERF_SLO_PERIOD_DAYS`. */
    period_days: periodDaysSchema.optional(),
    /** Whether failed runs within the target are bad runs. Default `PERF_SLO_ERRORS`. */
    errors: z.boolean({ error: 'true or false' }).optional(),
  },
  { error: RULE_FORM },
);

/** Shape of a rules document. */
export const rulesDocumentSchema = accepts(
  z.strictObject(
    {
      rules: z.array(ruleSchema, { error: RULES_FORM }).max(MAX_RULES, { error: RULES_FORM }),
    },
    { error: DOCUMENT_FORM },
  ),
  DOCUMENT_FORM,
);

/** One rule, as the document gives it. */
type RuleInput = z.output<typeof ruleSchema>;

/**
 * A rules document that cannot be used. The message names the file, the place in the document
 * (`rules[3].target_seconds`; none for the file as a whole) and what was expected.
 */
export class RulesError extends PerfSidecarError {
  /** The rules file, as configured. */
  readonly file: string;
  /** Where in the document, for example `rules[3].match["http.route"]`; empty for the whole file. */
  readonly path: string;

  constructor(file: string, path: string, problem: string, expected: string, options?: ErrorOptions) {
    super(
      'PERF_RULES_INVALID',
      `${file}: ${path === '' ? '' : `${path}: `}${problem}; expected ${expected}`,
      options,
    );
    this.file = file;
    this.path = path;
  }
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A document path as people read it: `rules[3].match["http.route"]`. */
function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else {
      const name = String(key);
      if (IDENTIFIER.test(name)) out += out === '' ? name : `.${name}`;
      else out += `[${JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name)}]`;
    }
  }
  return out;
}

function problemOf(found: unknown): string {
  return found === undefined ? 'is missing' : `is ${describeValue(found)}`;
}

/** The {@link RulesError} of the first problem zod found. */
function shapeError(file: string, document: unknown, error: z.ZodError): RulesError {
  const issue = error.issues[0];
  if (issue === undefined) return new RulesError(file, '', 'is invalid', DOCUMENT_FORM);
  if (issue.code === 'unrecognized_keys') {
    const known = issue.path.length === 0 ? 'rules' : RULE_FIELDS;
    return new RulesError(
      file,
      formatPath([...issue.path, issue.keys[0] ?? '']),
      'is not a known field',
      `one of ${known}`,
    );
  }
  return new RulesError(
    file,
    formatPath(issue.path),
    problemOf(valueAt(document, issue.path)),
    issue.message,
  );
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Checks and compiles rule `index`. */
function compileRule(
  rule: RuleInput,
  index: number,
  file: string,
  targets: Readonly<Record<string, number>>,
): CompiledRule {
  const at = (...rest: PropertyKey[]) => formatPath(['rules', index, ...rest]);
  const conditions = Object.entries(rule.match);
  if (conditions.length === 0 || conditions.length > MAX_CONDITIONS) {
    const problem = conditions.length === 0 ? 'is empty' : `has ${conditions.length} conditions`;
    throw new RulesError(file, at('match'), problem, MATCH_FORM);
  }
  let service: string | undefined;
  let name: string | undefined;
  let kind: SpanKind | undefined;
  const keys: string[] = [];
  const values: (string | number | boolean)[] = [];
  for (const [key, value] of conditions) {
    if (key.length === 0 || key.length > MAX_CONDITION_KEY_LENGTH || CONTROL.test(key)) {
      throw new RulesError(
        file,
        at('match'),
        `has the condition key ${describeValue(key)}`,
        CONDITION_KEY_FORM,
      );
    }
    if (key === MATCH_SERVICE_NAME) {
      if (!isServiceName(value)) {
        throw new RulesError(
          file,
          at('match', key),
          problemOf(value),
          `a service name of 1 to ${MAX_SERVICE_NAME_LENGTH} printable characters`,
        );
      }
      service = value;
    } else if (key === MATCH_SPAN_NAME) {
      if (typeof value !== 'string' || value.length === 0) {
        throw new RulesError(file, at('match', key), problemOf(value), 'a span name (a non-empty string)');
      }
      name = value;
    } else if (key === MATCH_SPAN_KIND) {
      const lower = typeof value === 'string' ? value.toLowerCase() : undefined;
      const found = lower !== undefined && Object.hasOwn(SPAN_KINDS, lower) ? SPAN_KINDS[lower] : undefined;
      if (found === undefined) {
        throw new RulesError(
          file,
          at('match', key),
          problemOf(value),
          `one of ${Object.keys(SPAN_KINDS).join(', ')}`,
        );
      }
      kind = found;
    } else {
      keys.push(key);
      values.push(value);
    }
  }
  let targetSeconds: number;
  if ((rule.target_seconds === undefined) === (rule.kind === undefined)) {
    const problem =
      rule.kind === undefined ? 'has neither target_seconds nor kind' : 'has both target_seconds and kind';
    throw new RulesError(file, at(), problem, ONE_TARGET_FORM);
  }
  if (rule.kind !== undefined) {
    const seconds = Object.hasOwn(targets, rule.kind) ? targets[rule.kind] : undefined;
    if (seconds === undefined) {
      const known = Object.keys(targets);
      const shown = known.length > 20 ? `${known.slice(0, 20).join(', ')}, …` : known.join(', ');
      throw new RulesError(
        file,
        at('kind'),
        `${problemOf(rule.kind)}, not in the target table`,
        known.length === 0 ? KIND_FORM : `${KIND_FORM}: ${shown}`,
      );
    }
    targetSeconds = seconds;
  } else {
    targetSeconds = rule.target_seconds as number;
  }
  if (rule.operation !== undefined) {
    const problem = operationNameProblem(rule.operation);
    if (problem !== undefined) throw new RulesError(file, at('operation'), problem, OPERATION_NAME_FORM);
  }
  const objective: ObjectiveInput = {
    ...(rule.objective !== undefined ? { objective: rule.objective } : {}),
    ...(rule.period_days !== undefined ? { periodDays: rule.period_days } : {}),
    ...(rule.errors !== undefined ? { errors: rule.errors } : {}),
  };
  const result: RuleMatch = Object.freeze({
    targetSeconds,
    operation: rule.operation,
    ...(rule.kind !== undefined ? { kind: rule.kind } : {}),
    ...(Object.keys(objective).length > 0 ? { objective: Object.freeze(objective) } : {}),
  });
  return Object.freeze({
    index,
    service,
    name,
    kind,
    keys: Object.freeze(keys),
    values: Object.freeze(values),
    result,
  });
}

/** The rule set without rules (no file configured). */
export const EMPTY_RULES: SizedRuleSet = new CompiledRuleSet([]);

const parseRulesOptionsSchema = z.strictObject({
  /** The file the text came from, for errors. */
  file: accepts(z.string().min(1), 'the path of the rules file'),
  /** The target table (`PERF_TARGETS` merged over the defaults) that `kind` names resolve in. */
  targets: accepts(
    z.record(z.string(), z.number().gt(0).max(MAX_TARGET_SECONDS)),
    `an object of names to seconds greater than 0, at most ${MAX_TARGET_SECONDS}`,
  ),
});

/** Options of {@link parseRules}. */
export type ParseRulesOptions = z.input<typeof parseRulesOptionsSchema>;

let yaml: typeof Yaml | undefined;

/**
 * The `yaml` package, loaded on the first rules document: its 72 modules (about 2 MiB resident)
 * are nothing a process without `PERF_RULES_FILE` should carry. `require`, not `import()`: rules
 * are read while `startTelemetry`, which is synchronous, runs; `yaml` is CommonJS under Node, so
 * this is the very module an `import` would load.
 */
function yamlParser(): typeof Yaml {
  yaml ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  return yaml;
}

/** Reads the YAML (or JSON, which YAML reads too) of a rules document into plain values. */
function readDocument(text: string, file: string): unknown {
  const documents = yamlParser().parseAllDocuments(text, {
    uniqueKeys: true,
    prettyErrors: true,
    logLevel: 'silent',
  });
  if (!Array.isArray(documents)) return undefined; // only comments and blank lines
  if (documents.length > 1) {
    throw new RulesError(
      file,
      '',
      `holds ${documents.length} YAML documents`,
      `one document: ${DOCUMENT_FORM}`,
    );
  }
  const document = documents[0];
  if (document === undefined) return undefined;
  const error = document.errors[0];
  if (error !== undefined) {
    // The first line of the parser's message says what and where; the rest is a source excerpt.
    const what = (error.message.split('\n')[0] ?? error.message).replace(/:\s*$/, '');
    throw new RulesError(file, '', `is not valid YAML or JSON (${what})`, DOCUMENT_FORM, { cause: error });
  }
  try {
    // maxAliasCount bounds the expansion of YAML aliases (a "billion laughs" document).
    return document.toJS({ maxAliasCount: 100 });
  } catch (cause) {
    throw new RulesError(file, '', `cannot be read (${(cause as Error).message})`, DOCUMENT_FORM, { cause });
  }
}

/**
 * Refuses a `__proto__` condition key. `yaml` reads YAML and JSON text alike and keeps the key as
 * an own property of the mapping (it defines, rather than assigns, a key the object already answers
 * to; merged in by a YAML 1.1 `<<` too), as `JSON.parse` would; but zod's record skips it, so that
 * it cannot replace its copy's prototype: the condition would vanish unseen and the rule match
 * spans without that attribute. So this is checked on the parsed document, before zod.
 * (`constructor` and `prototype` survive the copy and compare like any attribute: a span matches
 * only when it has the attribute with that value.)
 */
function checkReservedKeys(document: unknown, file: string): void {
  const rules = valueAt(document, ['rules']);
  if (!Array.isArray(rules)) return;
  for (let i = 0; i < rules.length && i <= MAX_RULES; i++) {
    const match = valueAt(rules[i], ['match']);
    if (match === null || typeof match !== 'object' || !Object.hasOwn(match, '__proto__')) continue;
    throw new RulesError(
      file,
      formatPath(['rules', i, 'match', '__proto__']),
      'is a reserved name, not usable as a condition key',
      RESERVED_KEY_FORM,
    );
  }
}

/**
 * Parses and compiles a rules document.
 *
 * @param text the document (YAML or JSON).
 * @param options the file it came from (for errors) and the target table `kind` resolves in.
 * @returns the compiled rules and their number.
 * @throws {RulesError} naming the file, the place in the document and what was expected.
 * @throws {InvalidArgumentError} on bad options.
 */
export function parseRules(text: string, options: ParseRulesOptions): SizedRuleSet {
  const { file, targets } = parseOptions(parseRulesOptionsSchema, options, {
    what: 'an option of parseRules',
  });
  if (Buffer.byteLength(text, 'utf8') > MAX_RULES_FILE_BYTES) {
    throw new RulesError(
      file,
      '',
      `is ${Buffer.byteLength(text, 'utf8')} bytes long`,
      `a rules document of at most ${MAX_RULES_FILE_BYTES} bytes`,
    );
  }
  const document = readDocument(text, file);
  if (document === null || document === undefined) throw new RulesError(file, '', 'is empty', DOCUMENT_FORM);
  checkReservedKeys(document, file);
  const parsed = rulesDocumentSchema.safeParse(document);
  if (!parsed.success) throw shapeError(file, document, parsed.error);
  return new CompiledRuleSet(parsed.data.rules.map((rule, index) => compileRule(rule, index, file, targets)));
}
