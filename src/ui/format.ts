/**
 * How figures are shown: durations in µs, ms, s or min chosen by size, counts with grouping,
 * shares as percent, memory in MiB, times in the viewer's locale and time zone (with UTC on hover).
 * Units are joined with a no-break space so that a number never wraps away from its unit. `—`
 * stands for a figure that does not exist (no runs, no target, no budget). Pure: no DOM, so that it
 * runs (and is tested) under Node as well.
 */

/** Shown for a missing figure. */
export const NONE = '—';
const NBSP = '\u00a0';

const numberFormats = new Map<string, Intl.NumberFormat>();

/**
 * A number with `digits` decimals in the viewer's locale; `exact`: always that many (Apdex), else
 * trailing zeros are dropped (`50 ms`, not `50.0 ms`; axis labels stay short).
 */
export function decimal(value: number, digits: number, exact = false): string {
  const key = `${exact ? 'e' : 't'}${digits}`;
  let format = numberFormats.get(key);
  if (!format) {
    format = new Intl.NumberFormat(undefined, {
      minimumFractionDigits: exact ? digits : 0,
      maximumFractionDigits: digits,
    });
    numberFormats.set(key, format);
  }
  return format.format(value);
}

/** Decimals that give about three significant digits for `value`. */
function digitsFor(value: number): number {
  const size = Math.abs(value);
  if (size >= 100) return 0;
  if (size >= 10) return 1;
  return 2;
}

/** A duration given in seconds, in the unit that suits its size. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return NONE;
  const size = Math.abs(seconds);
  if (size === 0) return `0${NBSP}ms`;
  if (size < 0.001) return `${decimal(seconds * 1e6, digitsFor(seconds * 1e6))}${NBSP}µs`;
  if (size < 1) return `${decimal(seconds * 1000, digitsFor(seconds * 1000))}${NBSP}ms`;
  if (size < 120) return `${decimal(seconds, digitsFor(seconds))}${NBSP}s`;
  return `${decimal(seconds / 60, digitsFor(seconds / 60))}${NBSP}min`;
}

/** A duration given in milliseconds (chart axes and legends). */
export function formatMs(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? NONE : formatDuration(ms / 1000);
}

/** A whole count with grouping. */
export function formatCount(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return NONE;
  return decimal(value, Number.isInteger(value) ? 0 : 1);
}

/** A share in [0, 1] (or beyond, for an overspent budget) as percent. */
export function formatShare(share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return NONE;
  return formatPercent(share * 100);
}

/** A value already in percent. */
export function formatPercent(percent: number | null | undefined): string {
  if (percent === null || percent === undefined || !Number.isFinite(percent)) return NONE;
  const digits = Math.abs(percent) >= 10 || percent === 0 ? 0 : 1;
  return `${decimal(percent, digits)}${NBSP}%`;
}

/** Memory in MiB. */
export function formatMiB(mib: number | null | undefined): string {
  if (mib === null || mib === undefined || !Number.isFinite(mib)) return NONE;
  return `${decimal(mib, mib >= 100 ? 0 : 1)}${NBSP}MiB`;
}

/** An Apdex score (0 to 1), two decimals. */
export function formatApdex(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return NONE;
  return decimal(value, 2, true);
}

/** A figure in an alert's unit (`s`, `MiB`, `%`, or `x`: times the sustainable burn rate). */
export function formatInUnit(value: number, unit: string): string {
  switch (unit) {
    case 's':
      return formatDuration(value);
    case 'MiB':
      return formatMiB(value);
    case '%':
      return formatPercent(value);
    case 'x':
      return `${decimal(value, digitsFor(value))}×`;
    default:
      return `${decimal(value, digitsFor(value))}${NBSP}${unit}`;
  }
}

const timeOfDay = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
const dateAndTime = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});

/** A time in the viewer's time zone: the time of day for today, else date and minute. */
export function formatLocalTime(ms: number, now: number = Date.now()): string {
  const day = (t: number) => new Date(t).toDateString();
  return day(ms) === day(now) ? timeOfDay.format(ms) : dateAndTime.format(ms);
}

/** `2026-11-27 08:13:18 UTC`: the hover text of every shown time. */
export function formatUtc(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** A window length in hours, in words. */
export function formatHours(hours: number): string {
  if (hours % 24 === 0 && hours >= 48) return `${hours / 24} days`;
  return hours === 1 ? '1 hour' : `${hours} hours`;
}

/** The clock formats of the chart axes, per locale (`undefined`: the viewer's). */
interface AxisFormats {
  readonly seconds: Intl.DateTimeFormat;
  readonly minutes: Intl.DateTimeFormat;
  readonly day: Intl.DateTimeFormat;
}

const axisFormats = new Map<string, AxisFormats>();

function axisFormatsOf(locale: string | undefined): AxisFormats {
  const key = locale ?? '';
  let formats = axisFormats.get(key);
  if (!formats) {
    formats = {
      seconds: new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit', second: '2-digit' }),
      minutes: new Intl.DateTimeFormat(locale, { hour: '2-digit', minute: '2-digit' }),
      day: new Intl.DateTimeFormat(locale, { month: 'short', day: 'numeric' }),
    };
    axisFormats.set(key, formats);
  }
  return formats;
}

const DAY_SECONDS = 86_400;

/**
 * The labels of a time axis, in the viewer's locale and time zone (or `locale`'s): with ticks
 * `incrSeconds` apart, the time of day (to the second below a minute), and under it the date on the
 * first tick and wherever the day changes; with ticks a day or more apart, the date only. uPlot's
 * own labels use a fixed 12-hour clock whatever the locale.
 *
 * @param splits the ticks, seconds since the epoch.
 * @param incrSeconds the distance between ticks, seconds.
 */
export function axisTimeLabels(splits: readonly number[], incrSeconds: number, locale?: string): string[] {
  const formats = axisFormatsOf(locale);
  if (incrSeconds >= DAY_SECONDS) return splits.map((s) => formats.day.format(s * 1000));
  const time = incrSeconds < 60 ? formats.seconds : formats.minutes;
  let previousDay: string | undefined;
  return splits.map((s) => {
    const day = formats.day.format(s * 1000);
    const label = time.format(s * 1000);
    const changed = day !== previousDay;
    previousDay = day;
    return changed ? `${label}\n${day}` : label;
  });
}
