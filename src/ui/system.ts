/**
 * The System section: the latest resource figures from the summary, and small charts over the
 * window (at most 24 hours) from `GET /api/system/resources/series`: memory against the memory
 * threshold, CPU against the CPU threshold, event-loop delay and utilisation, cache hit rates per
 * level, and database pool use (the last two the sidecar's own process only). A service without
 * runtime figures in the window (one that exports spans only, or one known from the Redis rollups
 * alone) is said to have none; a sidecar without that endpoint (404: an older version) shows "not
 * available".
 */
import { ApiError, getJson, type ResourcePoint, type ResourceSeries, type SystemFigures } from './api.ts';
import { type ChartData, TimeChart } from './charts.ts';
import { byId, h, replaceChildren } from './dom.ts';
import { formatCount, formatHours, formatMiB, formatMs, formatPercent, formatShare } from './format.ts';

/** Longest window of the resource series, hours. */
export const MAX_RESOURCE_HOURS = 24;

/** The alert thresholds the charts draw as lines. */
export interface Thresholds {
  readonly memory_mb: number;
  readonly cpu_percent: number;
}

/** What the charts are drawn for. */
export interface ResourceQuery {
  /** Another service than the sidecar's own; `undefined` for the own one. */
  readonly service: string | undefined;
  readonly hours: number;
}

type Pick = (p: ResourcePoint) => number | null;

/** One chart: its figures per point, and the threshold drawn as its last series, if any. */
interface SystemChart {
  readonly chart: TimeChart;
  readonly picks: readonly Pick[];
  readonly threshold?: (thresholds: Thresholds) => number;
  /** Figures of the sidecar's own process only (a received service never has them). */
  readonly ownOnly?: boolean;
}

/** The System section. */
export class SystemPanel {
  readonly #now = byId('system-now', HTMLElement);
  readonly #note = byId('system-note', HTMLElement);
  readonly #charts: readonly SystemChart[];
  #thresholds: Thresholds | undefined;
  /** The view of the charts shown ({@link viewOf}); another one shows them loading first. */
  #drawn: string | undefined;

  constructor() {
    const chart = (
      id: string,
      spec: ConstructorParameters<typeof TimeChart>[1],
      picks: readonly Pick[],
      threshold?: (thresholds: Thresholds) => number,
      ownOnly = false,
    ): SystemChart => ({
      chart: new TimeChart(byId(id, HTMLElement), spec),
      picks,
      ...(threshold ? { threshold } : {}),
      ownOnly,
    });
    this.#charts = [
      chart(
        'chart-rss',
        {
          title: 'Memory (MiB)',
          series: [
            { label: 'RSS', color: '--series-1' },
            { label: 'heap', color: '--series-3' },
            { label: 'threshold', color: '--series-target', dash: true },
          ],
          format: formatMiB,
          height: 150,
        },
        [(p) => p.rss_mb, (p) => p.heap_mb],
        (th) => th.memory_mb,
      ),
      chart(
        'chart-cpu',
        {
          title: 'CPU (%)',
          series: [
            { label: 'CPU', color: '--series-1' },
            { label: 'threshold', color: '--series-target', dash: true },
          ],
          format: formatPercent,
          height: 150,
        },
        [(p) => p.cpu_percent],
        (th) => th.cpu_percent,
      ),
      chart(
        'chart-eld',
        {
          title: 'Event-loop delay p99 (ms)',
          series: [{ label: 'delay p99', color: '--series-2' }],
          format: formatMs,
          height: 150,
        },
        [(p) => p.event_loop_delay_p99_ms],
      ),
      chart(
        'chart-elu',
        {
          title: 'Event-loop utilisation (%)',
          series: [{ label: 'utilisation', color: '--series-3' }],
          format: formatPercent,
          height: 150,
          minTop: 10,
        },
        [(p) => percentOf(p.event_loop_utilization)],
      ),
      chart(
        'chart-cache',
        {
          title: 'Cache hit rate per level (%)',
          series: [
            { label: 'memory (L1)', color: '--series-1' },
            { label: 'Redis (L2)', color: '--series-4' },
          ],
          format: formatPercent,
          height: 150,
          minTop: 100,
        },
        [
          (p) => percentOf(p.cache?.memory_hit_rate ?? null),
          (p) => percentOf(p.cache?.redis_hit_rate ?? null),
        ],
        undefined,
        true,
      ),
      chart(
        'chart-db',
        {
          title: 'Database pool (connections)',
          series: [
            { label: 'used', color: '--series-1' },
            { label: 'idle', color: '--series-3' },
            { label: 'waiting', color: '--series-target' },
          ],
          format: formatCount,
          height: 150,
        },
        [(p) => p.db_pool?.used ?? null, (p) => p.db_pool?.idle ?? null, (p) => p.db_pool?.waiting ?? null],
        undefined,
        true,
      ),
    ];
  }

  /** Sets the thresholds drawn as lines (from the dashboard configuration). */
  setThresholds(thresholds: Thresholds): void {
    this.#thresholds = thresholds;
  }

  /** Shows the summary's latest figures. */
  showNow(system: SystemFigures): void {
    const memoryOver =
      this.#thresholds !== undefined && system.rss_mb !== null && system.rss_mb > this.#thresholds.memory_mb;
    const cpuOver =
      this.#thresholds !== undefined &&
      system.cpu_percent !== null &&
      system.cpu_percent > this.#thresholds.cpu_percent;
    const item = (label: string, value: string, over = false) =>
      h(
        'div',
        {},
        h('dt', {}, label),
        h('dd', { class: over ? 'over' : undefined }, over ? `▲ ${value}` : value),
      );
    replaceChildren(
      this.#now,
      item('RSS now', formatMiB(system.rss_mb), memoryOver),
      item('Heap', formatMiB(system.heap_mb)),
      item('CPU', formatPercent(system.cpu_percent), cpuOver),
      item('Event-loop delay p99', formatMs(system.event_loop_delay_p99_ms)),
      item('Event-loop utilisation', formatShare(system.event_loop_utilization)),
    );
  }

  /**
   * Fetches the resource series and draws it; the charts say "Loading…" meanwhile when they showed
   * another view. A sidecar without the endpoint shows "not available"; another failure is said on
   * the charts and thrown for the caller to show.
   */
  async refresh(query: ResourceQuery): Promise<void> {
    const hours = Math.min(query.hours, MAX_RESOURCE_HOURS);
    const view = viewOf(query.service, hours);
    if (view !== this.#drawn) for (const { chart } of this.#charts) chart.showLoading();
    let series: ResourceSeries;
    try {
      series = await getJson<ResourceSeries>('/api/system/resources/series', {
        service: query.service,
        hours,
      });
    } catch (error) {
      this.#drawn = undefined;
      // No such endpoint on this sidecar (an older version): said quietly, as a fact, not an error.
      // (A service without figures is answered with no points, never 404.)
      if (error instanceof ApiError && error.status === 404) {
        this.#note.textContent = 'Resource history is not available from this sidecar.';
        for (const { chart } of this.#charts) chart.showEmpty('Not available.');
        return;
      }
      for (const { chart } of this.#charts) chart.showError('Could not load this chart.');
      throw error;
    }
    this.#thresholds = series.thresholds;
    this.#drawn = view;
    const windowText = formatHours(hours);
    const clipped = query.hours > MAX_RESOURCE_HOURS ? ` (the resource history covers at most 24 hours)` : '';
    this.#note.textContent =
      series.points.length === 0
        ? `No runtime figures for ${series.service} over the last ${windowText}${clipped}: the sidecar draws ` +
          'those of its own process, and of a service that exports runtime metrics to it over OTLP.'
        : `${series.service}, per minute over the last ${windowText}${clipped}.`;
    this.draw(series, query.service === undefined, view);
  }

  /**
   * Draws a resource series of `view` (see {@link viewOf}); `own`: of the sidecar's own process,
   * the only one with cache and pool figures.
   */
  draw(series: ResourceSeries, own: boolean, view: string): void {
    // The window's ends as empty points, so the x axis (and a double-click) spans the whole window.
    const from = Date.parse(series.from) / 1000;
    const to = Date.parse(series.to) / 1000;
    const points = series.points;
    const xs = [from, ...points.map((p) => Date.parse(p.t) / 1000), to];
    for (const { chart, picks, threshold, ownOnly } of this.#charts) {
      if (points.length === 0) {
        chart.showEmpty('No runtime figures in this window.');
        continue;
      }
      if (ownOnly && !own) {
        chart.showEmpty("Only for the sidecar's own process.");
        continue;
      }
      const columns: (number | null)[][] = picks.map((pick) => [null, ...points.map(pick), null]);
      // A threshold line runs across the whole window.
      if (threshold) columns.push(xs.map(() => threshold(series.thresholds)));
      chart.update([xs, ...columns] as ChartData, { view });
    }
  }

  /** Draws again with the current colour scheme. */
  restyle(): void {
    for (const { chart } of this.#charts) chart.restyle();
  }
}

function percentOf(share: number | null): number | null {
  return share === null ? null : share * 100;
}

/** What the charts are of, as one text: a change of service or window changes it. */
function viewOf(service: string | undefined, hours: number): string {
  return JSON.stringify([service ?? null, hours]);
}
