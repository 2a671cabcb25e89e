/**
 * The dashboard page in a real browser (Debian's Chromium driven by playwright-core) against the
 * sidecar started as `npm start` starts it, with a seeded workload received over OTLP from a
 * service that knows nothing of perf-sidecar:
 * - the page loads with no console error and no failed request, and its table holds the summary
 *   API's figures exactly; each chart's figure says (`data-state`) when its request has answered;
 * - the sidecar's own service draws its System charts; a service this sidecar has not heard of is
 *   said to have no runtime figures, with no failed request;
 * - a zoom into a chart is dropped when the window changes;
 * - a filter changes the URL and the rows, and a shared URL opens the same view;
 * - the table sorts from the keyboard;
 * - an operation that breaches during the test appears in the alert feed without a reload, with a
 *   link to its trace in Jaeger;
 * - with a token set the page is refused without it, refuses in its form a token a header cannot
 *   carry, and works after the right one is entered (kept for the tab only);
 * - screenshots at 1280 px and at 390 px, with the seeded service's runtime metrics in the System
 *   charts, are written to `artifacts/` for a person to look at, and at 390 px nothing overflows
 *   the viewport.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, screenshot, type TestBrowser, watchProblems } from '../helpers/browser.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { getJson, type SidecarProcess, startSidecarProcess } from '../helpers/sidecar.ts';
import { deleteKeys } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';
import { runtimeWorkload, SEED_RULES, seedWorkload, sendRuntimeMetrics, sendSpans } from './seed.ts';

const JAEGER_URL = 'http://jaeger.test:16686';
const TOKEN = 'dashboard-token-0123456789abcdef';
const SERVICE = 'shop';

/** The table's figures, by the summary's field names. */
const FIELDS = ['count', 'errors', 'p50_s', 'p95_s', 'p99_s', 'target_s', 'apdex', 'breach_rate'] as const;

interface OperationRow extends Record<(typeof FIELDS)[number], number | null> {
  slo?: { budget_remaining: number | null };
}
interface Report {
  operations: Record<string, OperationRow>;
  services: Record<string, { runs: number }>;
}

/** The OTLP/HTTP base URL from the sidecar's start-up line. */
function otlpHttpOf(sidecar: SidecarProcess): string {
  const match = /"otlpHttp":"(http:\/\/[^"]+)\/v1\/traces"/.exec(sidecar.stdout());
  if (!match?.[1]) throw new Error(`no OTLP/HTTP endpoint in the start-up line: ${sidecar.stdout()}`);
  return match[1];
}

/** The figure of chart `id` once its request has answered with `state` (`data-state`). */
const chart = (id: string, state: 'data' | 'empty' | 'error') =>
  `#${id} > figure.chart[data-state="${state}"]`;
/** The figure of chart `id` once its request has answered, whatever it answered. */
const answered = (id: string) => `#${id} > figure.chart:not([data-state="loading"])`;

/** The little of the DOM the checks read (the tests compile without the DOM library). */
interface DomElement {
  readonly dataset: Record<string, string | undefined>;
  querySelectorAll(selector: string): Iterable<DomElement>;
}
interface DomWindow {
  readonly innerWidth: number;
  readonly document: { readonly documentElement: { readonly scrollWidth: number } };
}

/** The raw figures the page's table shows, per operation and field (`data-value`). */
async function tableFigures(page: Page): Promise<Record<string, Record<string, string>>> {
  return page.$$eval('#operations tbody tr[data-operation]', (elements) => {
    const out: Record<string, Record<string, string>> = {};
    for (const row of elements as unknown as DomElement[]) {
      const cells: Record<string, string> = {};
      for (const cell of row.querySelectorAll('[data-field]')) {
        cells[cell.dataset.field ?? ''] = cell.dataset.value ?? '';
      }
      out[row.dataset.operation ?? ''] = cells;
    }
    return out;
  });
}

/** What the table should hold for `report`: every figure as the API gave it, `''` for null. */
function expectedFigures(report: Report): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const [name, row] of Object.entries(report.operations)) {
    const cells: Record<string, string> = {};
    for (const field of FIELDS) cells[field] = row[field] === null ? '' : String(row[field]);
    // The error budget, once the operation's budget has been judged.
    const budget = row.slo?.budget_remaining;
    cells.budget_remaining = budget === undefined || budget === null ? '' : String(budget);
    out[name] = cells;
  }
  return out;
}

describe('the dashboard page in a browser', () => {
  const prefix = `test:${randomUUID()}:`;
  const redis = new Redis(TEST_REDIS_URL);
  const dir = mkdtempSync(join(tmpdir(), 'perf-page-'));
  const rulesFile = join(dir, 'rules.yaml');
  let sidecar: SidecarProcess;
  let otlpHttp: string;
  let browser: TestBrowser;

  beforeAll(async () => {
    writeFileSync(rulesFile, SEED_RULES);
    sidecar = await startSidecarProcess(
      { server: true },
      {
        REDIS_URL: TEST_REDIS_URL,
        ALERT_KEY_PREFIX: prefix,
        PERF_RULES_FILE: rulesFile,
        PERF_JAEGER_URL: JAEGER_URL,
        LOG_LEVEL: 'info',
      },
    );
    otlpHttp = otlpHttpOf(sidecar);
    await sendSpans(otlpHttp, SERVICE, seedWorkload());
    await waitFor(
      async () => {
        const { body } = await getJson<Report>(sidecar.url, `/api/system/performance?service=${SERVICE}`);
        return (
          body.operations.checkout?.count === 20 &&
          body.operations.search?.count === 30 &&
          body.operations.login?.count === 10
        );
      },
      { what: 'the seeded operations in the summary', timeoutMs: 20_000 },
    );
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await sidecar?.stop();
    await deleteKeys(redis, prefix);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads with no console error and no failed request, and its table holds the summary API figures', async () => {
    const context = await browser.context(1280, 900);
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(`${sidecar.url}/?service=${SERVICE}`);
    await page.waitForSelector('#operations tbody tr[data-operation="checkout"]');
    const { body: report } = await getJson<Report>(sidecar.url, `/api/system/performance?service=${SERVICE}`);
    const expected = expectedFigures(report);
    const shown = await waitFor(
      async () => {
        const figures = await tableFigures(page);
        return JSON.stringify(figures) === JSON.stringify(expected) ? figures : undefined;
      },
      { what: 'the table to equal the summary' },
    ).catch(() => tableFigures(page));
    expect(shown).toEqual(expected);
    // The system part has answered too: a plot, or a sentence saying there is no data (the seeded
    // service has sent no runtime metrics yet), never a failure.
    await page.waitForSelector(answered('chart-rss'));
    expect(await page.getAttribute('#chart-rss > figure', 'data-state')).not.toBe('error');
    // The row over its target stands out (a class and a visible marker, not colour alone); the
    // others do not.
    const classOf = async (name: string) =>
      (await page.getAttribute(`#operations tr[data-operation="${name}"]`, 'class')) ?? '';
    expect(await classOf('checkout')).toMatch(/\bover\b/);
    expect(await page.textContent('#operations tr[data-operation="checkout"]')).toContain('over target');
    expect(await classOf('search')).not.toMatch(/\bover\b/);
    expect(await page.textContent('#operations tr[data-operation="search"]')).not.toContain('over target');
    expect(problems).toEqual({ console: [], failed: [], refused: [] });
    await context.close();
  });

  it("draws the sidecar's own System charts, and says a service it has not heard of has no runtime figures", async () => {
    const { body: config } = await getJson<{ service: string }>(sidecar.url, '/api/system/dashboard');
    const context = await browser.context(1280, 900);
    const page = await context.newPage();
    const problems = watchProblems(page);
    // The charts say they are loading until their request has answered, never "no data" before.
    await page.goto(`${sidecar.url}/?service=${encodeURIComponent(config.service)}`);
    await page.waitForSelector(`${chart('chart-rss', 'data')} .uplot`);
    await page.waitForSelector(`${chart('chart-cpu', 'data')} .uplot`);
    expect(await page.textContent('#system-note')).toContain(`${config.service}, per minute`);

    // A service the picker may list from the Redis rollups (written before a restart, or by
    // another instance) that this process has no figures of: no points, said as such.
    const other = await context.newPage();
    const otherProblems = watchProblems(other);
    await other.goto(`${sidecar.url}/?service=not-heard-of`);
    await other.waitForSelector(chart('chart-rss', 'empty'));
    expect(await other.textContent('#chart-rss')).toContain('No runtime figures in this window.');
    expect(await other.textContent('#system-note')).toContain('No runtime figures for not-heard-of');
    expect(problems).toEqual({ console: [], failed: [], refused: [] });
    expect(otherProblems).toEqual({ console: [], failed: [], refused: [] });
    await context.close();
  });

  it('drops a zoom into a chart when the window changes', async () => {
    const context = await browser.context(1280, 900);
    const page = await context.newPage();
    await page.goto(`${sidecar.url}/?service=${SERVICE}&hours=1&op=checkout`);
    const latency = chart('chart-latency', 'data');
    await page.waitForSelector(`${latency} .uplot`);
    const over = await page.locator('#chart-latency .u-over').boundingBox();
    if (!over) throw new Error('the latency chart has no plot area');
    const y = over.y + over.height / 2;
    await page.mouse.move(over.x + over.width * 0.3, y);
    await page.mouse.down();
    await page.mouse.move(over.x + over.width * 0.7, y, { steps: 5 });
    await page.mouse.up();
    await page.waitForSelector(`${latency}[data-zoomed]`);
    await page.selectOption('#filter-hours', '6');
    await page.waitForURL(/hours=6/);
    // Drawn again for the new window, the whole of it.
    await page.waitForSelector(`${latency}:not([data-zoomed]) .uplot`);
    await context.close();
  });

  it('reflects a filter in the URL and the rows, and opens a shared URL on the same view', async () => {
    const context = await browser.context(1280, 900);
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(`${sidecar.url}/?service=${SERVICE}`);
    await page.waitForSelector('#operations tbody tr[data-operation="search"]');
    await page.fill('#filter-operation', 'checkout');
    await page.press('#filter-operation', 'Enter');
    await page.waitForURL(/operation=checkout/);
    await waitFor(async () => (await page.$$('#operations tbody tr[data-operation]')).length === 1, {
      what: 'one row left after the filter',
    });
    expect(Object.keys(await tableFigures(page))).toEqual(['checkout']);
    const shared = page.url();
    expect(new URL(shared).searchParams.get('service')).toBe(SERVICE);

    const other = await context.newPage();
    await other.goto(shared);
    await other.waitForSelector('#operations tbody tr[data-operation="checkout"]');
    expect(Object.keys(await tableFigures(other))).toEqual(['checkout']);
    expect(await other.inputValue('#filter-operation')).toBe('checkout');
    expect(problems).toEqual({ console: [], failed: [], refused: [] });
    await context.close();
  });

  it('sorts the table from the keyboard', async () => {
    const context = await browser.context(1280, 900);
    const page = await context.newPage();
    await page.goto(`${sidecar.url}/?service=${SERVICE}`);
    await page.waitForSelector('#operations tbody tr[data-operation="login"]');
    const sortButton = page.locator('#operations th[data-field="count"] button');
    await sortButton.focus();
    await page.keyboard.press('Enter');
    const order = async () =>
      page.$$eval('#operations tbody tr[data-operation]', (rows) =>
        (rows as unknown as DomElement[]).map((r) => r.dataset.operation),
      );
    const sortState = async () => page.getAttribute('#operations th[data-field="count"]', 'aria-sort');
    const first = await sortState();
    expect(['ascending', 'descending']).toContain(first);
    expect(await order()).toEqual(
      first === 'ascending' ? ['login', 'checkout', 'search'] : ['search', 'checkout', 'login'],
    );
    await page.keyboard.press('Enter');
    expect(await sortState()).toBe(first === 'ascending' ? 'descending' : 'ascending');
    expect(await order()).toEqual(
      first === 'ascending' ? ['search', 'checkout', 'login'] : ['login', 'checkout', 'search'],
    );
    await context.close();
  });

  it('shows an operation that breaches during the test in the alert feed without a reload, linked to Jaeger', async () => {
    const context = await browser.context(1280, 900);
    const page = await context.newPage();
    const problems = watchProblems(page);
    let loads = 0;
    page.on('load', () => {
      loads++;
    });
    await page.goto(`${sidecar.url}/?service=${SERVICE}`);
    await page.waitForSelector('#operations tbody tr[data-operation="checkout"]');
    expect(await page.$$('#alerts [data-operation="payment"]')).toHaveLength(0);

    const [sent] = await sendSpans(otlpHttp, SERVICE, [{ name: 'payment', seconds: 0.5 }]);
    const item = page.locator('#alerts [data-alert-type="target_exceeded"][data-operation="payment"]');
    await item.first().waitFor({ timeout: 10_000 });
    expect(loads).toBe(1);
    const link = item.first().locator('a[href*="/trace/"]');
    expect(await link.getAttribute('href')).toBe(`${JAEGER_URL}/trace/${sent?.traceId}`);
    expect(problems).toEqual({ console: [], failed: [], refused: [] });
    await context.close();
  });

  it('writes screenshots at 1280 px and 390 px, and nothing overflows a phone-wide viewport', async () => {
    // The service's runtime metrics, so that the System part shows what it is for.
    await sendRuntimeMetrics(otlpHttp, SERVICE, runtimeWorkload());
    for (const [width, height] of [
      [1280, 900],
      [390, 844],
    ] as const) {
      const context = await browser.context(width, height);
      const page = await context.newPage();
      const problems = watchProblems(page);
      await page.goto(`${sidecar.url}/?service=${SERVICE}&hours=1&op=checkout`);
      await page.waitForSelector('#operations tbody tr[data-operation="checkout"]');
      await page.waitForSelector(`${chart('chart-latency', 'data')} .uplot`);
      for (const id of ['chart-rss', 'chart-cpu', 'chart-eld', 'chart-elu']) {
        await page.waitForSelector(`${chart(id, 'data')} .uplot`);
      }
      // The cache and pool figures are the sidecar's own process's: said so for a received service.
      await page.waitForSelector(chart('chart-cache', 'empty'));
      await page.waitForSelector('#system-now dd:not(:empty)');
      expect(await page.textContent('#system-now')).toMatch(/RSS now\s*\d/);
      const overflow = await page.evaluate(() => {
        const view = globalThis as unknown as DomWindow;
        return view.document.documentElement.scrollWidth - view.innerWidth;
      });
      expect(overflow).toBeLessThanOrEqual(0);
      await screenshot(page, `dashboard-${width}`);
      expect(problems).toEqual({ console: [], failed: [], refused: [] });
      await context.close();
    }
  });
});

describe('the dashboard page with PERF_API_TOKEN', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perf-page-token-'));
  const rulesFile = join(dir, 'rules.yaml');
  let sidecar: SidecarProcess;
  let browser: TestBrowser;

  beforeAll(async () => {
    writeFileSync(rulesFile, SEED_RULES);
    sidecar = await startSidecarProcess(
      { server: true },
      { PERF_API_TOKEN: TOKEN, PERF_RULES_FILE: rulesFile, LOG_LEVEL: 'info' },
    );
    // The ingest token is another one (PERF_INGEST_TOKEN, unset here): only the API asks for this one.
    await sendSpans(otlpHttpOf(sidecar), SERVICE, [{ name: 'checkout', seconds: 0.05 }]);
    const auth = { authorization: `Bearer ${TOKEN}` };
    await waitFor(
      async () =>
        (await getJson<Report>(sidecar.url, `/api/system/performance?service=${SERVICE}`, auth)).body
          .operations.checkout?.count === 1,
      { what: 'the seeded span in the summary', timeoutMs: 20_000 },
    );
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await sidecar?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused without the token, works once it is entered, and keeps it for the tab only', async () => {
    const context = await browser.context(1280, 900);
    const page = await context.newPage();
    const problems = watchProblems(page);
    await page.goto(`${sidecar.url}/?service=${SERVICE}`);
    await page.waitForSelector('#token-form', { state: 'visible' });
    expect(await page.$$('#operations tbody tr[data-operation]')).toHaveLength(0);
    // The API behind the page refuses a caller without the token.
    expect((await getJson(sidecar.url, '/api/system/performance')).status).toBe(401);
    expect((await getJson(sidecar.url, '/api/system/dashboard')).status).toBe(401);
    // The page asked for the token before calling the API, so nothing was refused yet.
    expect(problems.refused).toEqual([]);

    // A token a header cannot carry is refused in the form, before any request.
    await page.fill('#token-input', 'tökén with spaces');
    await page.press('#token-input', 'Enter');
    await page.waitForSelector('#token-panel[data-reason="invalid"]');
    expect(await page.textContent('#token-message')).toContain('only letters');
    expect(await page.isVisible('#token-form')).toBe(true);
    expect(problems).toEqual({ console: [], failed: [], refused: [] });

    await page.fill('#token-input', 'not-the-token');
    await page.press('#token-input', 'Enter');
    await page.waitForSelector('#token-panel[data-reason="refused"]');
    expect(await page.textContent('#token-message')).toContain('refused');

    await page.fill('#token-input', TOKEN);
    await page.press('#token-input', 'Enter');
    await page.waitForSelector('#token-form', { state: 'hidden' });
    await page.waitForSelector('#operations tbody tr[data-operation="checkout"]');
    expect(page.url()).not.toContain(TOKEN);

    // The same tab keeps it across a reload; a new tab asks again.
    await page.reload();
    await page.waitForSelector('#operations tbody tr[data-operation="checkout"]');
    const other = await context.newPage();
    await other.goto(`${sidecar.url}/?service=${SERVICE}`);
    await other.waitForSelector('#token-form', { state: 'visible' });
    await context.close();
  });
});
