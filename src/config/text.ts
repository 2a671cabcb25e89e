/**
 * Environment text to values: each parser reads the (present, non-empty) text of one variable and
 * either returns its value or reports, in a zod issue, what is wrong with it ("is below 1", "is not
 * a whole number"). The accepted form of a number comes from the value schema it is built on, the
 * same schema a part uses for its option, so the variable and the option cannot state different
 * bounds.
 */
import { z } from 'zod';
import { HEADER_VALUE, HEADER_VALUE_FORM } from '../shared/headers.ts';
import { accepts, expectedOf } from '../shared/options.ts';
import { MAX_TARGET_SECONDS, operationNameProblem } from '../telemetry/operations.ts';

/** A parser of one variable's text. */
export type TextSchema<T> = z.ZodType<T, string>;

/** The accepted form of a value schema, with an optional note such as "(0 picks a free port)". */
function formOf(value: z.ZodType, note: string | undefined): string {
  const form = expectedOf(value) ?? 'a valid value';
  return note === undefined ? form : `${form} (${note})`;
}

/**
 * Words for the first problem of a number checked against its bounds, in the variable's terms:
 * "is below 1", "must be greater than 0", "is above 1000".
 */
function boundsProblem(value: z.ZodType, n: number): string | undefined {
  const result = value.safeParse(n);
  if (result.success) return undefined;
  const issue = result.error.issues[0];
  if (issue?.code === 'too_small') {
    return issue.inclusive === false ? `must be greater than ${issue.minimum}` : `is below ${issue.minimum}`;
  }
  if (issue?.code === 'too_big') return `is above ${issue.maximum}`;
  if (issue?.code === 'invalid_type' && issue.expected === 'int') return 'is not a whole number';
  return 'is not accepted';
}

const WHOLE_NUMBER = /^[+-]?\d+$/;
const DECIMAL_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function numberText(
  value: z.ZodNumber,
  shape: RegExp,
  notANumber: string,
  note?: string,
): TextSchema<number> {
  return accepts(
    z
      .string()
      .trim()
      .transform((text, ctx) => {
        const n = Number(text);
        const problem = shape.test(text) && Number.isFinite(n) ? boundsProblem(value, n) : notANumber;
        if (problem === undefined) return n;
        ctx.addIssue({ code: 'custom', message: problem });
        return z.NEVER;
      }),
    formOf(value, note),
  );
}

/** The text of a whole number checked by `value` (an `integer()` schema), whose form it takes. */
export function wholeNumberText(value: z.ZodNumber, note?: string): TextSchema<number> {
  return numberText(value, WHOLE_NUMBER, 'is not a whole number', note);
}

/** The text of a decimal number checked by `value` (a `decimal()` schema), whose form it takes. */
export function decimalText(value: z.ZodNumber, note?: string): TextSchema<number> {
  return numberText(value, DECIMAL_NUMBER, 'is not a number', note);
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

/** `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, in any case. */
export const booleanText: TextSchema<boolean> = accepts(
  z
    .string()
    .trim()
    .transform((text, ctx) => {
      const word = text.toLowerCase();
      if (TRUE_WORDS.has(word)) return true;
      if (FALSE_WORDS.has(word)) return false;
      ctx.addIssue({ code: 'custom', message: 'is not a boolean word' });
      return z.NEVER;
    }),
  'true/false (also 1/0, yes/no, on/off)',
);

/** One of `values`, exactly (in any case with `anyCase`, as the OpenTelemetry SDK variables are read). */
export function oneOfText<const T extends string>(values: readonly T[], anyCase = false): TextSchema<T> {
  return accepts(
    z
      .string()
      .trim()
      .transform((text, ctx) => {
        const word = anyCase ? text.toLowerCase() : text;
        if ((values as readonly string[]).includes(word)) return word as T;
        ctx.addIssue({ code: 'custom', message: 'is not one of the accepted values' });
        return z.NEVER;
      }),
    values.join(' | '),
  );
}

/** A text matching `pattern` (after trimming, unless `trim` is false), described as `expected`. */
export function patternText(
  pattern: RegExp,
  problem: string,
  expected: string,
  trim = true,
): TextSchema<string> {
  const base = trim ? z.string().trim() : z.string();
  return accepts(base.regex(pattern, problem), expected);
}

/** A comma-separated list of names from `values`, `none` alone, or not at all. */
export function listOfText<const T extends string>(values: readonly T[]): TextSchema<T[]> {
  const named = values.filter((v) => v !== 'none');
  return accepts(
    z.string().transform((text, ctx) => {
      const names = [...new Set(text.split(',').map((n) => n.trim()))].filter((n) => n !== '');
      const unknown = names.filter((n) => !(values as readonly string[]).includes(n));
      if (unknown.length > 0) {
        ctx.addIssue({
          code: 'custom',
          message: `names ${JSON.stringify(unknown.join(','))}, not an accepted value`,
        });
        return z.NEVER;
      }
      if (names.includes('none') && names.length > 1) {
        ctx.addIssue({ code: 'custom', message: 'combines none with other names' });
        return z.NEVER;
      }
      return names as T[];
    }),
    `a comma-separated list of ${named.join(', ')}; or none`,
  );
}

/** At most 1000 comma-separated names of the given shape (blanks around commas dropped). */
export function nameListText(shape: RegExp, what: string, expected: string): TextSchema<readonly string[]> {
  return accepts(
    z
      .string()
      .transform((text) =>
        text
          .split(',')
          .map((name) => name.trim())
          .filter((name) => name !== ''),
      )
      .pipe(
        z
          .array(z.string().regex(shape, `holds a name that is not ${what}`))
          .min(1, 'names nothing')
          .max(1000, 'holds more than 1000 names'),
      ),
    expected,
  );
}

/** One file path (relative paths are read from the working directory). */
export const filePathText: TextSchema<string> = accepts(
  z
    .string()
    .trim()
    .refine((path) => path.length <= 4096 && !path.includes('\0'), 'is not a file path'),
  'a file path, for example /etc/perf-sidecar/rules.yaml',
);

/** Comma-separated absolute paths, deduplicated, at most `max`. */
export function absolutePathsText(max: number): TextSchema<string[]> {
  return accepts(
    z.string().transform((text, ctx) => {
      const paths = [
        ...new Set(
          text
            .split(',')
            .map((p) => p.trim())
            .filter((p) => p !== ''),
        ),
      ];
      const bad = paths.find((p) => !p.startsWith('/') || p.length > 4096 || p.includes('\0'));
      if (bad !== undefined) {
        ctx.addIssue({
          code: 'custom',
          message: `has ${JSON.stringify(bad.slice(0, 64))}, not an absolute path`,
        });
      } else if (paths.length > max) {
        ctx.addIssue({ code: 'custom', message: `lists ${paths.length} paths, more than ${max}` });
      }
      return paths;
    }),
    `comma-separated absolute paths, at most ${max}`,
  );
}

/**
 * `key=value` pairs separated by commas, values URL-encoded (the OpenTelemetry headers format);
 * decoded values must be header values (visible ASCII, spaces inside). Values never
 * appear in a problem.
 */
export const headersText: TextSchema<Record<string, string>> = accepts(
  z.string().transform((text, ctx) => {
    const out: Record<string, string> = {};
    for (const pair of text.split(',')) {
      if (pair.trim() === '') continue;
      const at = pair.indexOf('=');
      const key = at > 0 ? pair.slice(0, at).trim() : '';
      if (!/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$/.test(key) || Object.keys(out).length >= 64) {
        ctx.addIssue({ code: 'custom', message: 'is not a list of up to 64 key=value pairs (value hidden)' });
        return z.NEVER;
      }
      let value: string;
      try {
        value = decodeURIComponent(pair.slice(at + 1).trim());
      } catch {
        ctx.addIssue({ code: 'custom', message: `has a badly encoded value for ${JSON.stringify(key)}` });
        return z.NEVER;
      }
      // Checked here, where the error can leave the value out: an HTTP or gRPC library that
      // refuses it later quotes it in its error.
      if (value.length > 8192 || !HEADER_VALUE.test(value)) {
        ctx.addIssue({
          code: 'custom',
          message: `gives ${JSON.stringify(key)} a value that is not a header value (value hidden)`,
        });
        return z.NEVER;
      }
      out[key] = value;
    }
    return out;
  }),
  `key=value pairs separated by commas, values URL-encoded; each value (decoded) at most 8192 ${HEADER_VALUE_FORM}`,
  true,
);

/** Most entries `PERF_TARGETS` may hold. */
const MAX_PERF_TARGETS = 1_000;

/** A JSON object of operation name to target seconds, merged over `base`. */
export function targetsText(
  base: Readonly<Record<string, number>>,
): TextSchema<Readonly<Record<string, number>>> {
  return accepts(
    z.string().transform((text, ctx) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        ctx.addIssue({ code: 'custom', message: 'is not valid JSON' });
        return z.NEVER;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        ctx.addIssue({ code: 'custom', message: 'is JSON but not an object' });
        return z.NEVER;
      }
      const entries = Object.entries(parsed);
      if (entries.length > MAX_PERF_TARGETS) {
        ctx.addIssue({
          code: 'custom',
          message: `has ${entries.length} entries, over the limit of ${MAX_PERF_TARGETS}`,
        });
        return z.NEVER;
      }
      const out: Record<string, number> = { ...base };
      for (const [name, seconds] of entries) {
        const nameProblem = operationNameProblem(name);
        if (nameProblem) {
          ctx.addIssue({ code: 'custom', message: `has a name that ${nameProblem}` });
          return z.NEVER;
        }
        if (
          typeof seconds !== 'number' ||
          !Number.isFinite(seconds) ||
          seconds <= 0 ||
          seconds > MAX_TARGET_SECONDS
        ) {
          ctx.addIssue({
            code: 'custom',
            message: `gives ${JSON.stringify(name)} the target ${JSON.stringify(seconds)}, not a number of seconds in (0, ${MAX_TARGET_SECONDS}]`,
          });
          return z.NEVER;
        }
        out[name] = seconds;
      }
      return out;
    }),
    'a JSON object of operation name to seconds, for example {"simple_query":1.5,"export":60}',
  );
}
