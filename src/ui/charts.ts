/**
 * One small time chart (uPlot) in a `<figure>`: a caption, the plot, and a sentence in place of
 * the plot while its request is out ("Loading…") or when there is nothing to draw. The figure's
 * `data-state` says which: `loading` until the chart's request has answered, then `data` (a plot),
 * `empty` (nothing to draw) or `error` (the request failed). The x axis is labelled in the viewer's
 * locale and time zone; dragging across the plot zooms the x axis (`data-zoomed` on the figure) and
 * a double-click goes back to the whole window. A zoom is kept across the refreshes of one view
 * and dropped when the view (service, operation, window) changes. The plot follows its box's width
 * (ResizeObserver) and takes its colours from the page's CSS custom properties, so the dark scheme
 * applies to it.
 */
import uPlot from 'uplot';
import { h, replaceChildren } from './dom.ts';
import { axisTimeLabels, formatLocalTime } from './format.ts';

/** How a series is drawn. */
export interface SeriesSpec {
  /** Legend label. */
  readonly label: string;
  /** CSS custom property holding its colour (`--series-1`). */
  readonly color: string;
  /** Bars instead of a line (counts per point). */
  readonly bars?: boolean;
  /** A dashed line (thresholds and targets). */
  readonly dash?: boolean;
  /** Which y scale (default `y`); a second scale gets its own axis on the right. */
  readonly scale?: string;
}

/** What a chart shows. */
export interface ChartSpec {
  /** Caption above the plot. */
  readonly title: string;
  /** The series after x, in the order of the data arrays. */
  readonly series: readonly SeriesSpec[];
  /** Formats a y value for the axis and the legend. */
  readonly format: (value: number) => string;
  /** Formats values of the second scale (`y2`), when a series uses it. */
  readonly format2?: (value: number) => string;
  /** Plot height in CSS pixels. */
  readonly height: number;
  /** Smallest top of the y axis (so a flat line at 0 is not drawn mid-plot). Default 1. */
  readonly minTop?: number;
}

/** The data of a chart: x in seconds since the epoch, then one array per series (`null`: no value). */
export type ChartData = readonly [readonly number[], ...(readonly (number | null)[])[]];

/** What a chart's figure shows (its `data-state`). */
export type ChartState = 'loading' | 'data' | 'empty' | 'error';

/** What {@link TimeChart.update} draws besides the data. */
export interface ChartUpdate {
  /**
   * The view the data is of (service, operation, window, in any form): a zoom is kept while it
   * stays the same, and dropped when it changes.
   */
  readonly view: string;
  /** The plot's accessible text; by default the latest value of each series. */
  readonly description?: string;
}

/** Shown while a chart's request is out. */
export const LOADING = 'Loading…';

/** Fallback width before the box has been laid out. */
const DEFAULT_WIDTH = 320;

/** A colour from the page's custom properties. */
function cssColor(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

/** Whether any series has at least one value. */
function hasValues(data: ChartData, series: readonly SeriesSpec[]): boolean {
  for (let i = 1; i < data.length; i++) {
    // A dashed series is a threshold: it alone is not data.
    if (series[i - 1]?.dash) continue;
    if ((data[i] ?? []).some((v) => v !== null)) return true;
  }
  return false;
}

/** The indices of values whose neighbours are both missing (uPlot's `points.filter`). */
function isolatedPoints(u: uPlot, seriesIndex: number): number[] | null {
  const values = u.data[seriesIndex] ?? [];
  const found: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (values[i] != null && values[i - 1] == null && values[i + 1] == null) found.push(i);
  }
  return found.length > 0 ? found : null;
}

/** See the module comment. */
export class TimeChart {
  readonly #spec: ChartSpec;
  readonly #figure: HTMLElement;
  readonly #plotBox: HTMLDivElement;
  readonly #message: HTMLParagraphElement;
  #plot: uPlot | undefined;
  #data: ChartData | undefined;
  /** The view of the data drawn (see {@link ChartUpdate.view}). */
  #view: string | undefined;
  /** The x range the user zoomed to, kept across refreshes of one view; undefined: the whole window. */
  #zoom: { min: number; max: number } | undefined;
  #settingData = false;
  readonly #resize: ResizeObserver;
  #width = 0;

  /** Builds the chart's figure inside `container` (emptied first), saying "Loading…". */
  constructor(container: HTMLElement, spec: ChartSpec) {
    this.#spec = spec;
    this.#plotBox = h('div', { class: 'plot', role: 'img', 'aria-label': spec.title });
    this.#message = h('p', { class: 'chart-message' }, LOADING);
    this.#figure = h(
      'figure',
      { class: 'chart', 'data-state': 'loading' },
      h('figcaption', {}, spec.title),
      this.#plotBox,
      this.#message,
    );
    this.#plotBox.hidden = true;
    replaceChildren(container, this.#figure);
    this.#resize = new ResizeObserver((entries) => {
      const width = Math.floor(entries[0]?.contentRect.width ?? 0);
      if (width > 0 && width !== this.#width) {
        this.#width = width;
        this.#plot?.setSize({ width, height: this.#spec.height });
      }
    });
    this.#resize.observe(this.#figure);
  }

  /** Says "Loading…" instead of a plot: a request for another view is out. */
  showLoading(): void {
    this.#showMessage('loading', LOADING);
  }

  /** Says `reason` instead of a plot: the request answered, with nothing to draw. */
  showEmpty(reason: string): void {
    this.#showMessage('empty', reason);
  }

  /** Says `reason` instead of a plot: the request failed. */
  showError(reason: string): void {
    this.#showMessage('error', reason);
  }

  #showMessage(state: Exclude<ChartState, 'data'>, reason: string): void {
    this.#data = undefined;
    this.#view = undefined;
    this.#setZoom(undefined);
    this.#plot?.destroy();
    this.#plot = undefined;
    this.#plotBox.hidden = true;
    this.#message.textContent = reason;
    this.#message.hidden = false;
    this.#figure.dataset.state = state;
  }

  /** Draws `data` of `update.view` (or says there is none in the window). */
  update(data: ChartData, update: ChartUpdate): void {
    if (!hasValues(data, this.#spec.series)) {
      this.showEmpty('No data in this window.');
      return;
    }
    // Another service, operation or window: a zoom into the old one means nothing in it.
    if (update.view !== this.#view) this.#setZoom(undefined);
    this.#view = update.view;
    this.#data = data;
    this.#message.hidden = true;
    this.#plotBox.hidden = false;
    this.#figure.dataset.state = 'data';
    const description = update.description ?? this.#latest(data);
    this.#plotBox.setAttribute('aria-label', `${this.#spec.title}: ${description}`);
    const aligned = data as unknown as uPlot.AlignedData;
    if (!this.#plot) {
      this.#plot = new uPlot(this.#options(), aligned, this.#plotBox);
      return;
    }
    const zoom = this.#zoom;
    this.#settingData = true;
    this.#plot.setData(aligned);
    this.#settingData = false;
    if (zoom) this.#plot.setScale('x', zoom);
  }

  #setZoom(zoom: { min: number; max: number } | undefined): void {
    this.#zoom = zoom;
    if (zoom) this.#figure.dataset.zoomed = '';
    else delete this.#figure.dataset.zoomed;
  }

  /** `p95 latest 12 ms, p99 latest 30 ms`: the last value of each series that is not a threshold. */
  #latest(data: ChartData): string {
    const parts: string[] = [];
    this.#spec.series.forEach((s, i) => {
      if (s.dash) return;
      const values = data[i + 1] ?? [];
      let last: number | null = null;
      for (let j = values.length - 1; j >= 0 && last === null; j--) last = values[j] ?? null;
      const format = s.scale === 'y2' && this.#spec.format2 ? this.#spec.format2 : this.#spec.format;
      if (last !== null) parts.push(`${s.label} latest ${format(last)}`);
    });
    return parts.join(', ');
  }

  /** Draws again with the current colours (after the colour scheme changed). */
  restyle(): void {
    if (!this.#plot || !this.#data) return;
    this.#plot.destroy();
    this.#plot = new uPlot(this.#options(), this.#data as unknown as uPlot.AlignedData, this.#plotBox);
    if (this.#zoom) this.#plot.setScale('x', this.#zoom);
  }

  /** Removes the plot and stops following the box's size. */
  destroy(): void {
    this.#resize.disconnect();
    this.#plot?.destroy();
    this.#plot = undefined;
  }

  #options(): uPlot.Options {
    const spec = this.#spec;
    const fg = cssColor('--muted', '#4a5361');
    const grid = cssColor('--grid', '#e3e7ec');
    const axisFont = `12px ${cssColor('--font', 'system-ui, sans-serif')}`;
    const width = this.#width || this.#figure.clientWidth || DEFAULT_WIDTH;
    const twoScales = spec.series.some((s) => s.scale === 'y2');
    const minTop = spec.minTop ?? 1;
    const bars = uPlot.paths.bars?.({ size: [0.7, 40] });
    const series: uPlot.Series[] = [
      { value: (_u, v) => (v === null || v === undefined ? '—' : formatLocalTime(v * 1000)) },
      ...spec.series.map((s): uPlot.Series => {
        const color = cssColor(s.color, '#1a5fd1');
        const format = s.scale === 'y2' && spec.format2 ? spec.format2 : spec.format;
        return {
          label: s.label,
          scale: s.scale ?? 'y',
          stroke: color,
          width: s.bars ? 1 : 2,
          ...(s.bars ? { fill: `${color}99`, ...(bars ? { paths: bars } : {}) } : {}),
          ...(s.dash ? { dash: [6, 4] } : {}),
          // A value with no neighbour draws no line: mark it with a dot so that it shows at all.
          points:
            s.bars || s.dash
              ? { show: false }
              : { show: false, filter: isolatedPoints, size: 6, fill: color },
          spanGaps: false,
          value: (_u, v) => (v === null || v === undefined ? '—' : format(v)),
        };
      }),
    ];
    const axis = (scale: string, format: (value: number) => string, side?: number): uPlot.Axis => ({
      scale,
      stroke: fg,
      font: axisFont,
      grid: { stroke: grid, width: 1, show: scale === 'y' },
      ticks: { stroke: grid, width: 1 },
      size: 62,
      values: (_u, splits) => splits.map((v) => format(v)),
      ...(side !== undefined ? { side } : {}),
    });
    return {
      width,
      height: spec.height,
      series,
      scales: {
        x: { time: true },
        y: { range: (_u, _min, max) => [0, Math.max(max ?? 0, minTop) * 1.08] },
        ...(twoScales ? { y2: { range: (_u, _min, max) => [0, Math.max(max ?? 0, minTop) * 1.08] } } : {}),
      },
      axes: [
        {
          stroke: fg,
          font: axisFont,
          grid: { stroke: grid, width: 1 },
          ticks: { stroke: grid, width: 1 },
          // uPlot's own labels use a 12-hour clock whatever the locale.
          values: (_u, splits, _axis, _space, incr) => axisTimeLabels(splits, incr),
        },
        axis('y', spec.format),
        ...(twoScales ? [axis('y2', spec.format2 ?? spec.format, 1)] : []),
      ],
      cursor: { drag: { x: true, y: false, setScale: true } },
      legend: { live: true },
      hooks: {
        setScale: [
          (u, key) => {
            if (key !== 'x' || this.#settingData) return;
            const xs = u.data[0];
            const first = xs[0];
            const last = xs[xs.length - 1];
            const { min, max } = u.scales.x ?? {};
            // Back at the data's own range (a double-click): no zoom to keep.
            const whole =
              min === undefined || max === undefined || (min <= (first ?? 0) && max >= (last ?? 0));
            this.#setZoom(whole || min === undefined || max === undefined ? undefined : { min, max });
          },
        ],
      },
    };
  }
}
