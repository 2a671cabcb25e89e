/**
 * One environment variable's declaration: its name, how its text is read (which gives its accepted
 * form), its value when unset, and what it is for.
 */
import type { z } from 'zod';
import { defaultOf, expectedOf, integer, unwrapped } from '../shared/options.ts';
import { type TextSchema, wholeNumberText } from './text.ts';

/** One environment variable. */
export interface Variable<T> {
  /** Its name. */
  readonly name: string;
  /** Reads its (present, non-empty) text; carries the accepted form. */
  readonly schema: TextSchema<T>;
  /** Its value when unset or empty. */
  readonly fallback: T;
  /** The default as the documentation shows it. */
  readonly default: string;
  /** The accepted form. */
  readonly expected: string;
  /** Whether its value may hold a secret (never echoed, never logged). */
  readonly secret: boolean;
  /** What it is for, in one line. */
  readonly description: string;
}

export interface Extra {
  /** The default as shown, when the value alone does not say it (`unset (...)`). */
  readonly shown?: string;
  readonly secret?: boolean;
}

export function variable<T>(
  name: string,
  schema: TextSchema<T>,
  fallback: T,
  description: string,
  extra: Extra = {},
): Variable<T> {
  return {
    name,
    schema,
    fallback,
    default: extra.shown ?? String(fallback),
    expected: expectedOf(schema) ?? 'a valid value',
    secret: extra.secret ?? false,
    description,
  };
}

/**
 * A variable that is the default of a part's option: the option's schema gives the bounds, the
 * accepted form and (unless the variable is where the default lives) the default, so the two
 * cannot disagree.
 *
 * @param text builds the text parser from the option's value schema.
 */
export function optionVariable(
  name: string,
  text: (value: z.ZodNumber) => TextSchema<number>,
  option: z.ZodType,
  description: string,
  fallback = defaultOf(option),
): Variable<number> {
  if (typeof fallback !== 'number')
    throw new Error(`${name}: neither it nor its option has a numeric default`);
  return variable(name, text(unwrapped(option) as z.ZodNumber), fallback, description);
}

/** One of the OpenTelemetry span-limit variables: a whole number, unset leaving the SDK's default. */
export function limitVariable(name: string, description: string): Variable<number | undefined> {
  return variable(
    name,
    wholeNumberText(integer(0, 1_000_000)),
    undefined as number | undefined,
    description,
    {
      shown: 'unset',
    },
  );
}
