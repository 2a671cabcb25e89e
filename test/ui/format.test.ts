/**
 * How the page shows figures, under Node (format.ts touches no DOM): the unit chosen by size, the
 * decimals, `—` for a figure that does not exist, window lengths in words, and time axis labels in
 * the locale's own clock. Numbers are compared with the locale's own formatting, so the checks
 * hold whatever the machine's default locale.
 */
import { describe, expect, it } from 'vitest';
import {
  axisTimeLabels,
  decimal,
  formatApdex,
  formatCount,
  formatDuration,
  formatHours,
  formatInUnit,
  formatLocalTime,
  formatMiB,
  formatMs,
  formatPercent,
  formatShare,
  formatUtc,
  NONE,
} from '../../src/ui/format.ts';

const NBSP = '\u00a0';
/** `value` with at most `digits` decimals, as the default locale writes it. */
const n = (value: number, digits = 0) =>
  new Intl.NumberFormat(undefined, { maximumFractionDigits: digits }).format(value);

describe('figures', () => {
  it('writes a duration in µs, ms, s or min by its size, with about three significant digits', () => {
    expect(formatDuration(0)).toBe(`0${NBSP}ms`);
    expect(formatDuration(0.0000123)).toBe(`${n(12.3, 1)}${NBSP}µs`);
    expect(formatDuration(0.0005)).toBe(`${n(500)}${NBSP}µs`);
    expect(formatDuration(0.001)).toBe(`${n(1)}${NBSP}ms`);
    expect(formatDuration(0.01234)).toBe(`${n(12.3, 1)}${NBSP}ms`);
    expect(formatDuration(0.322)).toBe(`${n(322)}${NBSP}ms`);
    expect(formatDuration(1.5)).toBe(`${n(1.5, 2)}${NBSP}s`);
    expect(formatDuration(119)).toBe(`${n(119)}${NBSP}s`);
    expect(formatDuration(150)).toBe(`${n(2.5, 2)}${NBSP}min`);
    expect(formatMs(50)).toBe(`${n(50)}${NBSP}ms`);
    expect(formatMs(1500)).toBe(`${n(1.5, 2)}${NBSP}s`);
  });

  it('writes — for a figure that does not exist', () => {
    for (const format of [
      formatDuration,
      formatMs,
      formatCount,
      formatShare,
      formatPercent,
      formatMiB,
      formatApdex,
    ]) {
      expect(format(null)).toBe(NONE);
      expect(format(undefined)).toBe(NONE);
    }
    for (const format of [formatDuration, formatCount, formatShare, formatPercent, formatMiB, formatApdex]) {
      expect(format(Number.NaN)).toBe(NONE);
      expect(format(Number.POSITIVE_INFINITY)).toBe(NONE);
    }
  });

  it('writes counts, shares, percentages, memory and Apdex with their units', () => {
    expect(formatCount(1234567)).toBe(n(1234567));
    expect(formatCount(2.25)).toBe(n(2.25, 1));
    expect(formatShare(0.25)).toBe(`${n(25)}${NBSP}%`);
    expect(formatShare(0.055)).toBe(`${n(5.5, 1)}${NBSP}%`);
    expect(formatPercent(0)).toBe(`0${NBSP}%`);
    expect(formatPercent(3.456)).toBe(`${n(3.5, 1)}${NBSP}%`);
    expect(formatPercent(80)).toBe(`${n(80)}${NBSP}%`);
    expect(formatMiB(112.64)).toBe(`${n(113)}${NBSP}MiB`);
    expect(formatMiB(38.25)).toBe(`${n(38.3, 1)}${NBSP}MiB`);
    // Apdex keeps both decimals, so that a column of scores lines up.
    expect(formatApdex(1)).toBe(decimal(1, 2, true));
    expect(formatApdex(1)).toMatch(/^1\D00$/);
    expect(formatApdex(0.875)).toBe(decimal(0.88, 2, true));
  });

  it("writes an alert's figure in its unit", () => {
    expect(formatInUnit(0.5, 's')).toBe(formatDuration(0.5));
    expect(formatInUnit(640, 'MiB')).toBe(formatMiB(640));
    expect(formatInUnit(91.5, '%')).toBe(formatPercent(91.5));
    expect(formatInUnit(14.4, 'x')).toBe(`${n(14.4, 1)}×`);
    expect(formatInUnit(3, 'requests')).toBe(`${n(3)}${NBSP}requests`);
  });

  it('writes a window in hours, or in days from two days on', () => {
    expect(formatHours(1)).toBe('1 hour');
    expect(formatHours(6)).toBe('6 hours');
    expect(formatHours(24)).toBe('24 hours');
    expect(formatHours(48)).toBe('2 days');
    expect(formatHours(72)).toBe('3 days');
    expect(formatHours(720)).toBe('30 days');
  });
});

describe('times', () => {
  const at = new Date(2026, 10, 27, 13, 5, 9).getTime(); // local time

  it('writes UTC for the hover text', () => {
    expect(formatUtc(Date.UTC(2026, 10, 27, 8, 13, 18, 777))).toBe('2026-11-27 08:13:18 UTC');
  });

  it("writes today's times as the time of day, other days' with their date", () => {
    const timeOnly = new Intl.DateTimeFormat(undefined, {
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    expect(formatLocalTime(at, at + 60_000)).toBe(timeOnly.format(at));
    const yesterday = formatLocalTime(at, at + 86_400_000);
    expect(yesterday).not.toBe(timeOnly.format(at));
    expect(yesterday).toContain(new Intl.DateTimeFormat(undefined, { day: 'numeric' }).format(at));
  });

  it("labels a time axis with the locale's own clock, not a fixed 12-hour one", () => {
    const splits = [0, 1, 2, 3].map((i) => at / 1000 + i * 600);
    const gb = axisTimeLabels(splits, 600, 'en-GB');
    expect(gb[0]).toBe('13:05\n27 Nov');
    expect(gb.slice(1)).toEqual(['13:15', '13:25', '13:35']);
    const us = axisTimeLabels(splits, 600, 'en-US');
    expect(us[0]).toBe('01:05 PM\nNov 27');
    expect(us.slice(1)).toEqual(['01:15 PM', '01:25 PM', '01:35 PM']);
    const de = axisTimeLabels(splits, 600, 'de-DE');
    expect(de.slice(1)).toEqual(['13:15', '13:25', '13:35']);
  });

  it('adds seconds below a minute between ticks, the date where the day changes, and only dates from a day on', () => {
    expect(axisTimeLabels([at / 1000, at / 1000 + 15], 15, 'en-GB')).toEqual([
      '13:05:09\n27 Nov',
      '13:05:24',
    ]);
    const midnight = new Date(2026, 10, 28, 0, 0, 0).getTime() / 1000;
    expect(
      axisTimeLabels([midnight - 7200, midnight - 3600, midnight, midnight + 3600], 3600, 'en-GB'),
    ).toEqual(['22:00\n27 Nov', '23:00', '00:00\n28 Nov', '01:00']);
    expect(axisTimeLabels([midnight, midnight + 86_400], 86_400, 'en-GB')).toEqual(['28 Nov', '29 Nov']);
    // Without a locale: the viewer's.
    expect(axisTimeLabels([at / 1000], 600)).toEqual([
      `${new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' }).format(at)}\n${new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' }).format(at)}`,
    ]);
  });
});
