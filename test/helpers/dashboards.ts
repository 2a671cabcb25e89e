/** Reading the Grafana dashboards and their PromQL for the stack tests. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './child.ts';

/** Where the dashboards live. */
export const DASHBOARD_DIR = join(ROOT, 'grafana/dashboards');

/** A dashboard file, parsed. */
export interface DashboardFile {
  readonly file: string;
  readonly json: Record<string, unknown> & {
    panels?: PanelJson[];
    templating?: { list?: Record<string, unknown>[] };
  };
}

/** A panel as found in the JSON (rows may nest panels). */
export interface PanelJson {
  id?: number;
  type?: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: (Record<string, unknown> & { refId?: string; expr?: string; datasource?: { uid?: string } })[];
  panels?: PanelJson[];
  gridPos?: { h?: number; w?: number; x?: number; y?: number };
  [key: string]: unknown;
}

/** One PromQL expression of a panel. */
export interface PanelQuery {
  readonly file: string;
  readonly panel: string;
  readonly refId: string;
  readonly expr: string;
}

/** Every dashboard file in grafana/dashboards. */
export function loadDashboards(): DashboardFile[] {
  return readdirSync(DASHBOARD_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, json: JSON.parse(readFileSync(join(DASHBOARD_DIR, file), 'utf8')) }));
}

/** Every panel, rows' nested panels included. */
export function allPanels(dashboard: DashboardFile): PanelJson[] {
  const out: PanelJson[] = [];
  const walk = (panels: PanelJson[] | undefined) => {
    for (const p of panels ?? []) {
      out.push(p);
      walk(p.panels);
    }
  };
  walk(dashboard.json.panels);
  return out;
}

/** Every PromQL expression of every panel whose query goes to Prometheus. */
export function promQueries(dashboards: readonly DashboardFile[], prometheusUid: string): PanelQuery[] {
  const out: PanelQuery[] = [];
  for (const d of dashboards) {
    for (const p of allPanels(d)) {
      for (const t of p.targets ?? []) {
        const uid = t.datasource?.uid ?? p.datasource?.uid;
        if (uid !== prometheusUid || typeof t.expr !== 'string') continue;
        out.push({ file: d.file, panel: p.title ?? `#${p.id}`, refId: t.refId ?? '?', expr: t.expr });
      }
    }
  }
  return out;
}

/** Grafana's regex escaping of a variable value inside `=~"..."`. */
export function escapeRegex(value: string): string {
  return value.replace(/[\\^$*+?.()|[\]{}/]/g, '\\$&');
}

/**
 * Substitutes template and built-in variables as Grafana would for one selected value each.
 *
 * @throws when a `$` variable is left that the test does not know.
 */
export function substitute(expr: string, variables: Record<string, string>): string {
  const out = expr.replace(/\$(__\w+|\w+)/g, (whole, name: string) => {
    const value = variables[name];
    if (value === undefined) throw new Error(`unknown variable ${whole} in ${expr}`);
    return value;
  });
  return out;
}
