/**
 * The dashboard page: reads the view from the URL (`?service=&operation=&user_id=&hours=&op=`,
 * the summary's own parameter names plus the selected operation), loads the dashboard
 * configuration, then keeps the summary (every 10 s) and the charts (every 30 s) fresh while the
 * tab is visible, one request of a kind at a time, and streams alerts. A 401 anywhere shows the
 * token form and holds every refresh until a token is entered.
 */
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { AlertFeed } from './alerts.ts';
import {
  ApiError,
  type DashboardConfig,
  getJson,
  onUnauthorized,
  type Summary,
  UnauthorizedError,
} from './api.ts';
import { byId, h, replaceChildren } from './dom.ts';
import { formatHours, formatLocalTime, formatUtc } from './format.ts';
import { OperationDetail } from './operation.ts';
import { SystemPanel } from './system.ts';
import { OperationsTable } from './table.ts';
import { pageSaysAuthRequired, storedToken, TokenForm } from './token.ts';
import { DEFAULT_HOURS, HOURS, readView, searchOf, type View } from './view.ts';

/** Summary refresh period, ms. */
const SUMMARY_EVERY_MS = 10_000;
/** Chart refresh period, ms. */
const CHARTS_EVERY_MS = 30_000;

/**
 * Runs a refresh at most once at a time: asked while it runs, it runs once more afterwards instead
 * of overlapping (so a filter change during a slow request is never lost, nor doubled).
 */
class Refresh {
  readonly #task: () => Promise<void>;
  #running: Promise<void> | undefined;
  #again = false;
  /** When the last run ended (ms since the epoch); 0 before the first. */
  lastRun = 0;

  constructor(task: () => Promise<void>) {
    this.#task = task;
  }

  /** Runs now, or once more after the run in progress. */
  run(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      do {
        this.#again = false;
        await this.#task();
        this.lastRun = Date.now();
      } while (this.#again);
    })().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }
}

const serviceSelect = byId('filter-service', HTMLSelectElement);
const operationInput = byId('filter-operation', HTMLInputElement);
const userInput = byId('filter-user', HTMLInputElement);
const hoursSelect = byId('filter-hours', HTMLSelectElement);
const operationNames = byId('operation-names', HTMLDataListElement);
const errorBanner = byId('error', HTMLElement);
const statusLine = byId('status', HTMLElement);
const warningList = byId('warnings', HTMLUListElement);

let view: View = readView(location.search);
let config: DashboardConfig | undefined;
/** Set while the API waits for a token: nothing refreshes. */
let locked = false;

const table = new OperationsTable((operation) =>
  selectOperation(operation === view.op ? undefined : operation),
);
const detail = new OperationDetail(() => selectOperation(undefined));
const system = new SystemPanel();
const feed = new AlertFeed();
const tokenForm = new TokenForm(() => {
  locked = false;
  void start();
});

onUnauthorized((error) => {
  locked = true;
  feed.stop();
  tokenForm.show(error.sentToken);
});

/** The service to ask for: `undefined` for the sidecar's own (the API's default). */
function serviceQuery(): string | undefined {
  return view.service === undefined || view.service === config?.service ? undefined : view.service;
}

/** Whether two views ask the summary for the same thing (the open charts do not matter to it). */
function sameFilters(a: View, b: View): boolean {
  return (
    a.service === b.service && a.operation === b.operation && a.user_id === b.user_id && a.hours === b.hours
  );
}

/** Shows an API failure; a 401 is the token form's, not the banner's. */
function showError(error: unknown): void {
  if (error instanceof UnauthorizedError) return;
  errorBanner.textContent = error instanceof Error ? error.message : String(error);
  errorBanner.hidden = false;
}

function clearError(): void {
  errorBanner.hidden = true;
  errorBanner.textContent = '';
}

const summary = new Refresh(async () => {
  if (locked) return;
  const asked = view;
  let report: Summary;
  try {
    report = await getJson<Summary>('/api/system/performance', {
      service: serviceQuery(),
      operation: asked.operation,
      user_id: asked.user_id,
      hours: asked.hours,
    });
  } catch (error) {
    showError(error);
    return;
  }
  // The filters changed while the request was out: the next run shows them.
  if (!sameFilters(asked, view)) return;
  clearError();
  showSummary(report);
});

/** The System charts. */
const systemCharts = new Refresh(async () => {
  if (locked) return;
  await system.refresh({ service: serviceQuery(), hours: view.hours }).catch(showError);
});

/** The selected operation's charts. */
const operationCharts = new Refresh(async () => {
  const op = detail.operation;
  if (locked || op === undefined) return;
  await detail.refresh({ operation: op, service: serviceQuery(), hours: view.hours }).catch(showError);
});

/** Every chart. */
function refreshCharts(): void {
  void systemCharts.run();
  void operationCharts.run();
}

function showSummary(report: Summary): void {
  const services = Object.keys(report.services);
  if (!services.includes(report.service)) services.push(report.service);
  fillServices(services, report.service);
  if (report.filter.operation === null) fillOperationNames(Object.keys(report.operations));
  const users = report.filter.user_id === null ? '' : ` for user ${report.filter.user_id}`;
  table.render(
    report.operations,
    `of ${report.service}${users} over the last ${formatHours(report.window.hours)}`,
  );
  system.showNow(report.system);
  const to = Date.parse(report.window.to);
  const from = report.window.data_from === null ? undefined : Date.parse(report.window.data_from);
  replaceChildren(
    statusLine,
    `${report.service} · last ${formatHours(report.window.hours)}`,
    from === undefined ? ' · no data yet' : ` · data from ${formatLocalTime(from)}`,
    ` · source ${report.window.source} · updated `,
    h('time', { datetime: report.window.to, title: formatUtc(to) }, formatLocalTime(to)),
  );
  warningList.hidden = report.warnings.length === 0;
  replaceChildren(warningList, ...report.warnings.slice(0, 10).map((w) => h('li', {}, w)));
}

function fillServices(names: readonly string[], current: string): void {
  const shown = [...serviceSelect.options].map((o) => o.value);
  if (shown.join('\n') !== names.join('\n')) {
    replaceChildren(serviceSelect, ...names.map((name) => h('option', { value: name }, name)));
  }
  serviceSelect.value = current;
}

/** Suggestions for the operation filter (exact names), bounded. */
function fillOperationNames(names: readonly string[]): void {
  replaceChildren(operationNames, ...names.slice(0, 500).map((name) => h('option', { value: name })));
}

function showView(): void {
  operationInput.value = view.operation ?? '';
  userInput.value = view.user_id ?? '';
  hoursSelect.value = String(view.hours);
  if (view.service !== undefined && ![...serviceSelect.options].some((o) => o.value === view.service)) {
    serviceSelect.append(h('option', { value: view.service }, view.service));
  }
  if (view.service !== undefined) serviceSelect.value = view.service;
}

/**
 * Applies the filters as they stand in the form. `always`: refresh even if nothing changed (the
 * Apply button); a field's change event refreshes only on a change (Enter in a field fires both).
 */
function applyFilters(always: boolean): void {
  const hours = Number(hoursSelect.value);
  const next: View = {
    service:
      serviceSelect.value === '' || serviceSelect.value === config?.service ? undefined : serviceSelect.value,
    operation: operationInput.value.trim() || undefined,
    user_id: userInput.value.trim() || undefined,
    hours: HOURS.includes(hours) ? hours : DEFAULT_HOURS,
    op: view.op,
  };
  if (!always && sameFilters(next, view)) return;
  // Another service has other operations: the selected one is not among them.
  const service = next.service !== view.service;
  const chartsChange = service || next.hours !== view.hours;
  setView(service ? { ...next, op: undefined } : next);
  void summary.run();
  // The charts do not depend on the operation and user filters.
  if (chartsChange) refreshCharts();
}

/** Puts a view in the address bar without adding a history entry. */
function writeView(next: View): void {
  const search = searchOf(next);
  if (search === location.search) return;
  history.replaceState(history.state, '', `${location.pathname}${search}${location.hash}`);
}

function setView(next: View): void {
  view = next;
  writeView(view);
  detail.select(view.op);
  table.select(view.op);
}

function selectOperation(operation: string | undefined): void {
  setView({ ...view, op: operation });
  if (operation !== undefined) {
    void operationCharts.run();
    byId('operation-detail', HTMLElement).scrollIntoView({ block: 'nearest' });
  }
}

/** Loads the configuration, then everything else; again after a token was entered. */
async function start(): Promise<void> {
  if (pageSaysAuthRequired() && storedToken() === undefined) {
    locked = true;
    tokenForm.show(false);
    return;
  }
  try {
    config = await getJson<DashboardConfig>('/api/system/dashboard');
  } catch (error) {
    if (error instanceof UnauthorizedError) return;
    // Without it the page still works: no trace links, thresholds from the resource series.
    if (!(error instanceof ApiError && error.status === 404)) showError(error);
  }
  if (config) {
    byId('service-name', HTMLElement).textContent = config.service;
    byId('version', HTMLElement).textContent = `v${config.version}`;
    feed.setJaegerUrl(config.jaeger_url);
    system.setThresholds(config.thresholds);
  }
  if (locked) return;
  feed.start();
  refreshCharts();
  await summary.run();
}

/**
 * Set for the rest of the task in which a field's change applied the filters: Enter in a text
 * field fires its change and then the form's submit, which must not ask for the same view again.
 */
let appliedByChange = false;
byId('filters', HTMLFormElement).addEventListener('submit', (event) => {
  event.preventDefault();
  applyFilters(!appliedByChange);
});
for (const control of [serviceSelect, hoursSelect, operationInput, userInput]) {
  // Text fields apply on Enter (the form's submit) or when left; selects at once.
  control.addEventListener('change', () => {
    applyFilters(false);
    appliedByChange = true;
    setTimeout(() => {
      appliedByChange = false;
    }, 0);
  });
}

setInterval(() => {
  if (document.visibilityState === 'visible') void summary.run();
}, SUMMARY_EVERY_MS);
setInterval(() => {
  if (document.visibilityState === 'visible') refreshCharts();
}, CHARTS_EVERY_MS);
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState !== 'visible') return;
  // Back to the tab: catch up at once on what is stale.
  if (Date.now() - summary.lastRun >= SUMMARY_EVERY_MS) void summary.run();
  if (Date.now() - systemCharts.lastRun >= CHARTS_EVERY_MS) refreshCharts();
});
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
  detail.restyle();
  system.restyle();
});

showView();
setView(view);
void start();
