/**
 * Option schemas: one zod schema per options object (and per environment variable), from which the
 * type, the default, the bounds and the `expected` text of errors all come.
 *
 * A schema built here carries its accepted form ("an integer from 1 to 1000"), so an error message
 * and a documentation table can never restate a bound differently from the check. {@link parseOptions}
 * turns the first problem zod finds into an {@link InvalidArgumentError}: this is the one place where
 * schema errors become perf-sidecar errors.
 *
 * Hot paths (a key check on every cache `get`, the options of every tracked operation) keep
 * hand-written checks, because a schema parse costs microseconds there; they say so where they are.
 *
 * @example
 * const schema = z.strictObject({
 *   // Most entries held.
 *   maxItems: integer(1, 1_000_000).default(10_000),
 * });
 * const resolved = parseOptions(schema, options, { what: 'a cache option' });
 */
import { z } from 'zod';
import { describeValue, InvalidArgumentError } from './errors.ts';

/** What a schema accepts, in words, and whether its values may hold secrets. */
interface AcceptedForm {
  /** The accepted form, as errors and documentation tables show it. */
  readonly expected: string;
  /** Whether a value may hold a secret (a URL with a password): it is never echoed. */
  readonly secret?: boolean;
}

const forms = z.registry<AcceptedForm>();

/**
 * Attaches the accepted form to a schema. Call it last before the wrappers (`.optional()`,
 * `.default()`): a zod check such as `.min()` returns a new schema without the form.
 *
 * @param schema the schema.
 * @param expected the accepted form, for example `an integer from 1 to 1000`.
 * @param secret whether values may hold secrets (never echoed in errors).
 */
export function accepts<S extends z.ZodType>(schema: S, expected: string, secret = false): S {
  forms.add(schema, secret ? { expected, secret } : { expected });
  return schema;
}

/** A zod schema's definition, as far as finding nested schemas needs it. */
interface Definition {
  readonly type: string;
  readonly innerType?: z.ZodType;
  readonly in?: z.ZodType;
  readonly shape?: Record<string, z.ZodType>;
  readonly element?: z.ZodType;
  readonly valueType?: z.ZodType;
  readonly defaultValue?: unknown;
}

function definitionOf(schema: z.ZodType): Definition {
  return schema._zod.def as unknown as Definition;
}

const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

/** The accepted form of a schema, looking through its wrappers; `undefined` when none was attached. */
export function acceptedFormOf(schema: z.ZodType): AcceptedForm | undefined {
  let current: z.ZodType | undefined = schema;
  while (current !== undefined) {
    const form = forms.get(current);
    if (form !== undefined) return form;
    const def = definitionOf(current);
    current = WRAPPERS.has(def.type) ? def.innerType : def.type === 'pipe' ? def.in : undefined;
  }
  return undefined;
}

/** The accepted form of a schema (see {@link accepts}), or `undefined`. */
export function expectedOf(schema: z.ZodType): string | undefined {
  return acceptedFormOf(schema)?.expected;
}

/** The default of a schema built with `.default(value)`, looking through other wrappers. */
export function defaultOf(schema: z.ZodType): unknown {
  let current: z.ZodType | undefined = schema;
  while (current !== undefined) {
    const def = definitionOf(current);
    if (def.type === 'default') return def.defaultValue;
    current = WRAPPERS.has(def.type) ? def.innerType : undefined;
  }
  return undefined;
}

/** `schema` without its wrappers (`.optional()`, `.default()`, ...). */
export function unwrapped(schema: z.ZodType): z.ZodType {
  let current = schema;
  while (WRAPPERS.has(definitionOf(current).type)) {
    const inner = definitionOf(current).innerType;
    if (inner === undefined) break;
    current = inner;
  }
  return current;
}

/** The schema at `path` inside `schema` (object fields, array elements, record values). */
function schemaAt(schema: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let current: z.ZodType | undefined = schema;
  for (const key of path) {
    if (current === undefined) return undefined;
    const def = definitionOf(unwrapped(current));
    if (def.type === 'object') current = def.shape?.[String(key)];
    else if (def.type === 'array') current = def.element;
    else if (def.type === 'record') current = def.valueType;
    else return undefined;
  }
  return current;
}

/** The value at `path` inside `value` (as a schema issue's path names it), or `undefined`. */
export function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

function argumentName(argument: string, path: readonly PropertyKey[]): string {
  let name = argument;
  for (const key of path) name += typeof key === 'number' ? `[${key}]` : `.${String(key)}`;
  return name;
}

/**
 * What a custom check (`.check()`, `.superRefine()`) may put in an issue's `params` to shape the
 * error: the problem (default `is <value>`) and the accepted form (default: the schema's).
 */
export interface IssueParams {
  /** What is wrong, for example `is 900, not below factoryHardTimeoutMs`. */
  readonly problem?: string;
  /** The accepted form. */
  readonly expected?: string;
}

/** How {@link parseOptions} names what it checks. */
export interface ParseContext {
  /** Name of the argument in errors. Default `options`. */
  readonly argument?: string;
  /** What one field is, for an unknown key (`is not <what>`). Default `a known option`. */
  readonly what?: string;
  /** Accepted form of the whole value when it is not an object at all. Default `an object or undefined`. */
  readonly expected?: string;
}

/**
 * The {@link InvalidArgumentError} for the first problem of a failed parse: the argument with its
 * path (`options.maxItems`, `options.tags[2]`), what is wrong with the value (never echoed when
 * the schema holds secrets) and the schema's accepted form.
 */
export function invalidArgument(
  schema: z.ZodType,
  error: z.ZodError,
  value: unknown,
  context: ParseContext = {},
): InvalidArgumentError {
  const argument = context.argument ?? 'options';
  const issue = error.issues[0];
  if (issue === undefined) return new InvalidArgumentError(argument, 'is invalid', 'a valid value');
  if (issue.code === 'unrecognized_keys') {
    const known = Object.keys(
      definitionOf(unwrapped(schemaAt(schema, issue.path) ?? schema)).shape ?? {},
    ).sort();
    return new InvalidArgumentError(
      argumentName(argument, [...issue.path, issue.keys[0] ?? '']),
      `is not ${context.what ?? 'a known option'}`,
      `one of ${known.join(', ')}`,
    );
  }
  const params = (issue.code === 'custom' ? issue.params : undefined) as IssueParams | undefined;
  const at = schemaAt(schema, issue.path);
  const form = at === undefined ? undefined : acceptedFormOf(at);
  const found = valueAt(value, issue.path);
  const expected =
    params?.expected ??
    form?.expected ??
    (issue.path.length === 0 ? context.expected : undefined) ??
    (issue.path.length === 0 ? 'an object or undefined' : issue.message);
  let problem = params?.problem;
  if (problem === undefined) {
    problem =
      form?.secret && typeof found === 'string'
        ? 'is a string that is not accepted (value hidden)'
        : `is ${describeValue(found)}`;
  }
  return new InvalidArgumentError(argumentName(argument, issue.path), problem, expected);
}

/**
 * Parses `value` with `schema`, or throws an {@link InvalidArgumentError} naming the first bad
 * field, what was wrong with it and the accepted form.
 *
 * @param schema the options schema (usually a `z.strictObject` with defaults).
 * @param value what the caller passed.
 * @param context how to name the argument in errors.
 * @returns the parsed value: defaults filled, transforms applied.
 */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  value: unknown,
  context?: ParseContext,
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw invalidArgument(schema, result.error, value, context);
}

/** An integer within `[min, max]`; `unit` (`ms`, `seconds`) reads "an integer number of ms from ...". */
export function integer(min: number, max: number, unit?: string): z.ZodNumber {
  const what = unit === undefined ? 'an integer' : `an integer number of ${unit}`;
  return accepts(z.number().int().min(min).max(max), `${what} from ${min} to ${max}`);
}

/**
 * A finite number within `[min, max]`, or `(min, max]` with `minExclusive`.
 *
 * @param options `unit` reads "a number of seconds ..."; `what` replaces the whole noun ("a percentage").
 */
export function decimal(
  min: number,
  max: number,
  options: { unit?: string; what?: string; minExclusive?: boolean } = {},
): z.ZodNumber {
  const what = options.what ?? (options.unit === undefined ? 'a number' : `a number of ${options.unit}`);
  const schema = options.minExclusive ? z.number().gt(min).max(max) : z.number().min(min).max(max);
  return accepts(
    schema,
    options.minExclusive ? `${what} greater than ${min}, at most ${max}` : `${what} from ${min} to ${max}`,
  );
}

/** A string matching `pattern`, described as `expected`. */
export function matching(pattern: RegExp, expected: string): z.ZodString {
  return accepts(z.string().regex(pattern), expected);
}

/** `true` or `false`. */
export function flag(): z.ZodBoolean {
  return accepts(z.boolean(), 'true or false');
}

/** One of `values`. */
export function oneOf<const T extends readonly [string, ...string[]]>(
  values: T,
): z.ZodEnum<{ [K in T[number]]: K }> {
  return accepts(z.enum(values), `one of ${values.join(', ')}`);
}

/** A function, described as `expected`; its type is the caller's. */
export function callable<F extends (...args: never[]) => unknown>(expected: string): z.ZodCustom<F, F> {
  return accepts(
    z.custom<F>((value) => typeof value === 'function'),
    expected,
  );
}

/** An object with the named methods (duck-typed: a client, a meter, a serializer), described as `expected`. */
export function withMethods<T>(methods: readonly string[], expected: string): z.ZodCustom<T, T> {
  return accepts(
    z.custom<T>(
      (value) =>
        value !== null &&
        typeof value === 'object' &&
        methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function'),
    ),
    expected,
  );
}

/** Longest `service.name` accepted, characters (OTEL_RESOURCE_ATTRIBUTES allows 255). */
export const MAX_SERVICE_NAME_LENGTH = 256;
const SERVICE_NAME = new RegExp(`^[^\\p{Cc}]{1,${MAX_SERVICE_NAME_LENGTH}}$`, 'u');

/** Whether `value` is a `service.name` every part accepts: 1 to 256 printable characters. */
export function isServiceName(value: unknown): value is string {
  return typeof value === 'string' && SERVICE_NAME.test(value);
}

/**
 * A `service.name` as a resource carries it, whatever its source (`OTEL_SERVICE_NAME`,
 * `OTEL_RESOURCE_ATTRIBUTES`, the host's package.json): 1 to 256 printable characters. The one rule
 * of every option that names a service (the alerts' `service` label).
 */
export function serviceName(): z.ZodString {
  return accepts(z.string().regex(SERVICE_NAME), `1 to ${MAX_SERVICE_NAME_LENGTH} printable characters`);
}
