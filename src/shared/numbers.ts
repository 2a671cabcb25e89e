/** Number formatting shared by reports, alerts and samples. */

/** `value` rounded to `digits` decimal places (JSON-friendly figures, not display strings). */
export function roundTo(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
