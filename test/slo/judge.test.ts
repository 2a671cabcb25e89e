/**
 * The judgement against the SRE workbook's examples, fed minute data directly: each alert row at
 * its threshold edge, a 100 % outage, a 2x burn, a 3-minute spike, low traffic, static and dynamic
 * thresholds, other periods, and the budget figures.
 */
import { describe, expect, it } from 'vitest';
import { OperationBook } from '../../src/slo/book.ts';
import { type JudgeSettings, judge } from '../../src/slo/judge.ts';
import type { Objective } from '../../src/slo/objectives.ts';
import { ALERT_WINDOWS, burnThreshold } from '../../src/slo/windows.ts';

/** A minute long after the epoch, on a day boundary (so windows never straddle a missing day). */
const START = 29_000_000 - (29_000_000 % 1440);
const STATIC: JudgeSettings = { minRuns: 10, burnRate: 'static' };
const DYNAMIC: JudgeSettings = { minRuns: 10, burnRate: 'dynamic' };
const OBJ99: Objective = { objective: 0.99, periodDays: 30, errors: true };
const OBJ999: Objective = { objective: 0.999, periodDays: 30, errors: true };

/**
 * A book with `minutes` minutes ending at `last`, `runs(minute)` runs and `bad(minute)` of them over
 * their target in each.
 */
function fill(
  book: OperationBook,
  from: number,
  to: number,
  runs: (minute: number) => number,
  bad: (minute: number) => number = () => 0,
): OperationBook {
  for (let m = from; m <= to; m++) {
    const r = runs(m);
    if (r > 0) book.addMinute(m, { runs: r, over: bad(m), failed: 0 });
  }
  return book;
}

/** A book with 30 days of good traffic at `perMinute` runs, ending at minute `last`. */
function steady(perMinute: number, last: number): OperationBook {
  return fill(new OperationBook(undefined, 'checkout'), last - 30 * 1440 + 1, last, () => perMinute);
}

describe('the workbook table', () => {
  it('scales thresholds as budget share x period / long window', () => {
    expect(ALERT_WINDOWS.map((w) => burnThreshold(w, 30))).toEqual([14.4, 6, 1]);
    const week = ALERT_WINDOWS.map((w) => burnThreshold(w, 7));
    expect(week[0]).toBeCloseTo(3.36, 10);
    expect(week[1]).toBeCloseTo(1.4, 10);
    expect(week[2]).toBeCloseTo(0.2333, 4);
  });
});

describe('judge: the workbook examples', () => {
  it('pages on a 100 % outage within the short window at 99.9 %', () => {
    const last = START + 40 * 1440;
    const book = steady(100, last - 1);
    // The outage's first minute: 100 bad runs of the hour's 6,000 burn 16.7x; the 5 minutes 200x.
    fill(
      book,
      last,
      last,
      () => 100,
      () => 100,
    );
    const j = judge(book, OBJ999, last, STATIC);
    expect(j.firing.get('page')?.window.longMinutes).toBe(60);
    expect(j.firing.get('page')?.longBurn).toBeCloseTo(1 / 60 / 0.001, 6);
  });

  it('pages at 99 % only once the hour has burnt 14.4x: after 9 minutes of a full outage, not 8', () => {
    const last = START + 40 * 1440;
    const book = steady(100, last - 9);
    fill(
      book,
      last - 8,
      last - 1,
      () => 100,
      () => 100,
    );
    expect(judge(book, OBJ99, last - 1, STATIC).firing.has('page')).toBe(false);
    fill(
      book,
      last,
      last,
      () => 100,
      () => 100,
    );
    expect(judge(book, OBJ99, last, STATIC).firing.get('page')?.window.longMinutes).toBe(60);
  });

  it('does not page on a 3-minute spike at 99 %, though the 5-minute window burns at 60x', () => {
    const last = START + 40 * 1440;
    const book = steady(100, last - 3);
    fill(
      book,
      last - 2,
      last,
      () => 100,
      () => 100,
    );
    const j = judge(book, OBJ99, last, STATIC);
    expect(j.burnRates.get(5)).toBeCloseTo(60, 6);
    expect(j.burnRates.get(60)).toBeCloseTo(5, 6);
    expect(j.firing.size).toBe(0);
  });

  it('tickets on a sustained 2x burn and does not page', () => {
    const last = START + 40 * 1440;
    // 2 % bad for 30 days at 99 %: a 2x burn everywhere.
    const book = fill(
      new OperationBook(undefined, 'checkout'),
      last - 30 * 1440 + 1,
      last,
      () => 100,
      () => 2,
    );
    const j = judge(book, OBJ99, last, STATIC);
    expect(j.firing.has('page')).toBe(false);
    expect(j.firing.get('ticket')?.window.longMinutes).toBe(4320);
    expect(j.firing.get('ticket')?.longBurn).toBeCloseTo(2, 6);
    expect(j.budgetRemaining).toBeCloseTo(-1, 6);
    // The oldest day's share inside the window is estimated from its runs spread evenly: within a run.
    expect(Math.abs(j.budgetRemainingRuns - -0.01 * 100 * 43200)).toBeLessThan(1);
    expect(j.goodShare).toBeCloseTo(0.98, 6);
  });

  it('pages on the 6 h row when 6 h and 30 min burn 6x while the hour stays under 14.4x', () => {
    const last = START + 40 * 1440;
    const book = fill(new OperationBook(undefined, 'checkout'), last - 30 * 1440 + 1, last - 360, () => 100);
    fill(
      book,
      last - 359,
      last,
      () => 100,
      () => 6,
    );
    const j = judge(book, OBJ99, last, STATIC);
    expect(j.firing.get('page')?.window.longMinutes).toBe(360);
  });
});

describe('judge: threshold edges', () => {
  /**
   * The judgement of a book whose last `minutes` hold `share` bad runs at `perMinute` runs a
   * minute, after good days.
   */
  function burning(minutes: number, share: number, perMinute = 1000): ReturnType<typeof judge> {
    const last = START + 40 * 1440;
    const book = steady(perMinute, last - minutes);
    fill(
      book,
      last - minutes + 1,
      last,
      () => perMinute,
      () => share * perMinute,
    );
    return judge(book, OBJ99, last, STATIC);
  }

  it('fires at exactly 14.4x on both windows', () => {
    expect(burning(60, 0.144).firing.get('page')?.threshold).toBeCloseTo(14.4, 10);
  });

  it('does not fire just under 14.4x', () => {
    expect(burning(60, 0.143).firing.has('page')).toBe(false);
  });

  it('fires the 6 h row at exactly 6x on 6 h and 30 min, and not just under', () => {
    expect(burning(360, 0.06).firing.get('page')?.window.longMinutes).toBe(360);
    expect(burning(360, 0.059).firing.has('page')).toBe(false);
  });

  it('fires the ticket row at exactly 1x on 3 d and 6 h, and not just under', () => {
    // From an hour before the window: its oldest hour is partly inside it, and counted as evenly spread.
    const at = burning(4380, 0.01, 100);
    expect(at.firing.get('ticket')?.window.longMinutes).toBe(4320);
    expect(at.firing.has('page')).toBe(false);
    expect(burning(4380, 0.0099, 100).firing.size).toBe(0);
  });

  it('needs both windows: a burning hour whose last 5 minutes are clean does not page', () => {
    const last = START + 40 * 1440;
    const book = steady(1000, last - 60);
    fill(
      book,
      last - 59,
      last - 5,
      () => 1000,
      () => 200,
    );
    fill(book, last - 4, last, () => 1000);
    const j = judge(book, OBJ99, last, STATIC);
    expect(j.burnRates.get(60)).toBeGreaterThan(14.4);
    expect(j.burnRates.get(5)).toBe(0);
    expect(j.burnRates.get(360)).toBeLessThan(6);
    expect(j.firing.has('page')).toBe(false);
  });

  it('holds to a shorter period with its scaled thresholds (7 days: page at 3.36x)', () => {
    const last = START + 40 * 1440;
    const book = fill(new OperationBook(undefined, 'checkout'), last - 7 * 1440 + 1, last - 60, () => 1000);
    fill(
      book,
      last - 59,
      last,
      () => 1000,
      () => 34,
    );
    const week: Objective = { ...OBJ99, periodDays: 7 };
    expect(judge(book, week, last, STATIC).firing.get('page')?.threshold).toBeCloseTo(3.36, 10);
    // The same burn is far under the 30-day page threshold.
    expect(judge(book, OBJ99, last, STATIC).firing.has('page')).toBe(false);
  });

  it('leaves errors out of the bad runs when the objective says so', () => {
    const last = START + 40 * 1440;
    const book = steady(100, last - 60);
    for (let m = last - 59; m <= last; m++) book.addMinute(m, { runs: 100, over: 0, failed: 50 });
    expect(judge(book, OBJ99, last, STATIC).firing.has('page')).toBe(true);
    expect(judge(book, { ...OBJ99, errors: false }, last, STATIC).firing.size).toBe(0);
  });
});

describe('judge: low traffic', () => {
  it('never pages on one slow run of a quiet operation (5 runs an hour)', () => {
    const last = START + 40 * 1440;
    const book = fill(new OperationBook(undefined, 'report'), last - 30 * 1440 + 1, last, (m) =>
      m % 12 === 0 ? 1 : 0,
    );
    book.addMinute(last, { runs: 1, over: 1, failed: 0 });
    for (const settings of [STATIC, DYNAMIC]) {
      const j = judge(book, OBJ99, last, settings);
      expect(j.burnRates.get(60)).toBeGreaterThan(14.4);
      expect(j.firing.size).toBe(0);
    }
  });

  it('needs more than one bad run worth of runs at 99.9 %: 60 runs an hour with one slow run do not page', () => {
    const last = START + 40 * 1440;
    const book = steady(1, last - 1);
    book.addMinute(last, { runs: 1, over: 1, failed: 0 });
    // One bad run in 60 burns 16.7x at 99.9 %, over 14.4x, but 60 runs hold less than one bad run's worth.
    const j = judge(book, OBJ999, last, STATIC);
    expect(j.burnRates.get(60)).toBeGreaterThan(14.4);
    expect(j.firing.has('page')).toBe(false);
  });

  it('dynamic: a quiet night needs a higher bad share than a busy day to page', () => {
    const last = START + 40 * 1440;
    // 30 days at 1,000 runs a minute, then a night hour at 50 runs a minute, 20 % bad.
    const book = steady(1000, last - 60);
    fill(
      book,
      last - 59,
      last,
      () => 50,
      () => 10,
    );
    // Static: 20 % bad is 20x, over 14.4x. Dynamic: the hour's 3,000 runs are 1/20 of a busy hour,
    // so the hour must burn 20 times 14.4x to spend 2 % of the budget.
    expect(judge(book, OBJ99, last, STATIC).firing.has('page')).toBe(true);
    const dynamic = judge(book, OBJ99, last, DYNAMIC);
    expect(dynamic.firing.has('page')).toBe(false);
    // The same bad runs in a busy hour page under both.
    const busy = steady(1000, last - 60);
    fill(
      busy,
      last - 59,
      last,
      () => 1000,
      () => 200,
    );
    expect(judge(busy, OBJ99, last, DYNAMIC).firing.get('page')?.threshold).toBeCloseTo(14.4, 1);
  });

  it('dynamic: a young operation is held to its period estimated from the time it has data', () => {
    const last = START + 40 * 1440;
    // Two hours of data only: without the estimate, 2 % of a two-hour budget would page on 0.03 %.
    const book = fill(
      new OperationBook(undefined, 'new_op'),
      last - 119,
      last,
      () => 100,
      (m) => (m === last ? 1 : 0),
    );
    const j = judge(book, OBJ99, last, DYNAMIC);
    expect(j.firing.size).toBe(0);
  });
});

describe('judge: figures', () => {
  it('reports the budget left in share and runs, and no burn for a window without runs', () => {
    const last = START + 40 * 1440;
    const book = fill(
      new OperationBook(undefined, 'checkout'),
      last - 1440 + 1,
      last - 120,
      () => 100,
      () => 0,
    );
    book.addMinute(last - 200, { runs: 0, over: 0, failed: 0 });
    book.addMinute(last - 300, { runs: 100, over: 50, failed: 10 });
    const j = judge(book, OBJ99, last, STATIC);
    const runs = (1440 - 120) * 100 + 100;
    expect(j.periodRuns).toBe(runs);
    expect(j.periodBad).toBe(60);
    expect(j.budgetRemainingRuns).toBeCloseTo(0.01 * runs - 60, 6);
    expect(j.budgetRemaining).toBeCloseTo(1 - 60 / (0.01 * runs), 6);
    expect(j.burnRates.get(5)).toBeUndefined();
    expect(j.burnRates.get(360)).toBeCloseTo(60 / (240 * 100 + 100) / 0.01, 6);
  });
});
