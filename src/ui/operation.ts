/**
 * The selected operation's charts, from `GET /api/system/performance/series`: p95 and p99 in ms
 * with the target as a dashed line, and runs with breaches and errors per point. The series has a
 * point for every step of the window (empty ones included), so the x axis always spans the window.
 */
import { getJson, type OperationSeries } from './api.ts';
import { type ChartData, TimeChart } from './charts.ts';
import { byId } from './dom.ts';
import { formatCount, formatDuration, formatHours, formatMs } from './format.ts';

/** What the charts are drawn for. */
export interface OperationQuery {
  readonly operation: string;
  /** Another service than the sidecar's own; `undefined` for the own one. */
  readonly service: string | undefined;
  readonly hours: number;
}

/** The detail section of the selected operation. */
export class OperationDetail {
  readonly #section = byId('operation-detail', HTMLElement);
  readonly #heading = byId('detail-heading', HTMLElement);
  readonly #note = byId('detail-note', HTMLElement);
  readonly #latency: TimeChart;
  readonly #runs: TimeChart;
  #shown: string | undefined;
  /** The view of the charts shown ({@link viewOf}); another one shows them loading first. */
  #drawn: string | undefined;

  /** `onClose` runs when the close button is used. */
  constructor(onClose: () => void) {
    this.#latency = new TimeChart(byId('chart-latency', HTMLElement), {
      title: 'p95 and p99 against the target',
      series: [
        { label: 'p95', color: '--series-1' },
        { label: 'p99', color: '--series-2' },
        { label: 'target', color: '--series-target', dash: true },
      ],
      format: formatMs,
      height: 220,
      minTop: 1,
    });
    this.#runs = new TimeChart(byId('chart-runs', HTMLElement), {
      title: 'Runs, breaches and errors',
      series: [
        { label: 'runs', color: '--series-runs', bars: true },
        { label: 'breaches', color: '--series-breaches', bars: true },
        { label: 'errors', color: '--series-errors' },
      ],
      format: formatCount,
      height: 220,
      minTop: 1,
    });
    byId('detail-close', HTMLButtonElement).addEventListener('click', onClose);
  }

  /** Shows the section for `operation` (its charts loading), or hides it (`undefined`). */
  select(operation: string | undefined): void {
    if (operation === this.#shown) return;
    this.#shown = operation;
    this.#drawn = undefined;
    this.#section.hidden = operation === undefined;
    if (operation === undefined) return;
    this.#heading.textContent = `Operation ${operation}`;
    this.#latency.showLoading();
    this.#runs.showLoading();
  }

  /** The operation shown, if any. */
  get operation(): string | undefined {
    return this.#shown;
  }

  /**
   * Fetches the series and draws it; the charts say "Loading…" meanwhile when they showed another
   * view, and say that the request failed when it did. Errors are the caller's to show too.
   */
  async refresh(query: OperationQuery): Promise<void> {
    const view = viewOf(query);
    if (view !== this.#drawn) {
      this.#latency.showLoading();
      this.#runs.showLoading();
    }
    let series: OperationSeries;
    try {
      series = await getJson<OperationSeries>('/api/system/performance/series', {
        operation: query.operation,
        service: query.service,
        hours: query.hours,
      });
    } catch (error) {
      if (query.operation === this.#shown) {
        this.#drawn = undefined;
        this.#latency.showError('Could not load this chart.');
        this.#runs.showError('Could not load this chart.');
      }
      throw error;
    }
    // The selection may have changed while the request was out.
    if (series.operation !== this.#shown) return;
    this.#drawn = view;
    this.draw(series, query.hours, view);
  }

  /** Draws a series of `view` (see {@link viewOf}). */
  draw(series: OperationSeries, hours: number, view: string): void {
    const xs: number[] = [];
    const p95: (number | null)[] = [];
    const p99: (number | null)[] = [];
    const target: (number | null)[] = [];
    const runs: (number | null)[] = [];
    const breaches: (number | null)[] = [];
    const errors: (number | null)[] = [];
    const targetMs = series.target_s === null ? null : series.target_s * 1000;
    let total = 0;
    for (const point of series.points) {
      xs.push(Date.parse(point.t) / 1000);
      p95.push(point.p95_s === null ? null : point.p95_s * 1000);
      p99.push(point.p99_s === null ? null : point.p99_s * 1000);
      target.push(targetMs);
      runs.push(point.count);
      breaches.push(point.breaches);
      errors.push(point.errors);
      total += point.count;
    }
    const step = series.step_minutes === 1 ? 'minute' : `${series.step_minutes} minutes`;
    this.#note.textContent =
      `${series.service}: one point per ${step} over the last ${formatHours(hours)}; target ` +
      `${formatDuration(series.target_s)}. Drag across a chart to zoom in; double-click to see the whole window.`;
    if (total === 0) {
      this.#latency.showEmpty('No runs in this window.');
      this.#runs.showEmpty('No runs in this window.');
      return;
    }
    const worst = Math.max(...p95.filter((v): v is number => v !== null));
    this.#latency.update([xs, p95, p99, target] as ChartData, {
      view,
      description: `highest p95 ${formatMs(worst)}, target ${formatDuration(series.target_s)}`,
    });
    this.#runs.update([xs, runs, breaches, errors] as ChartData, {
      view,
      description: `${formatCount(total)} runs, ${formatCount(sum(breaches))} over the target, ${formatCount(sum(errors))} failed`,
    });
  }

  /** Draws again with the current colour scheme. */
  restyle(): void {
    this.#latency.restyle();
    this.#runs.restyle();
  }
}

function sum(values: readonly (number | null)[]): number {
  let total = 0;
  for (const v of values) total += v ?? 0;
  return total;
}

/** What the charts are of, as one text: a change of service, operation or window changes it. */
function viewOf(query: OperationQuery): string {
  return JSON.stringify([query.service ?? null, query.operation, query.hours]);
}
