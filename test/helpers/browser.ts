/**
 * A real browser for the page tests: Debian's Chromium (`/usr/bin/chromium`, or `TEST_CHROMIUM`)
 * driven by playwright-core, headless, with the flags that keep it off the network (this machine's
 * network is closed; without them Chromium keeps trying to reach Google's hosts), and a fresh
 * profile per launch (playwright-core's own temporary one). Each page records what a person would see as broken: console errors and
 * warnings, requests that failed, and answers of 400 or more.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { ROOT } from './child.ts';

/** Where Chromium is: Debian's package unless `TEST_CHROMIUM` says otherwise. */
export const CHROMIUM_PATH = process.env.TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Where the tests write what a person should look at (screenshots); ignored by git. */
export const ARTIFACTS_DIR = join(ROOT, 'artifacts');

/** Arguments that keep Chromium headless and off the network (see ../shared/PLATFORM.md). */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A launched browser. */
export interface TestBrowser {
  readonly browser: Browser;
  /** A new isolated context (its own session storage), at `width` x `height`. */
  context(width?: number, height?: number): Promise<BrowserContext>;
  close(): Promise<void>;
}

/** Launches Chromium, or throws naming the package to install. */
export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `no Chromium at ${CHROMIUM_PATH}: the page tests need Debian's chromium package (apt-get install chromium), or TEST_CHROMIUM pointing at a Chromium binary`,
    );
  }
  // playwright-core gives each launch a fresh temporary profile of its own.
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
  return {
    browser,
    context: (width = 1280, height = 900) =>
      browser.newContext({ viewport: { width, height }, timezoneId: 'Europe/Paris', locale: 'en-GB' }),
    async close() {
      await browser.close();
    },
  };
}

/** What went wrong on a page, as a person would notice it. */
export interface PageProblems {
  /** Console messages of type error or warning, with where they came from. */
  readonly console: string[];
  /** Requests that failed (network error, aborted, blocked). */
  readonly failed: string[];
  /** Answers with a status of 400 or more: `status method url`. */
  readonly refused: string[];
}

/** Starts recording the problems of `page` (from now on). */
export function watchProblems(page: Page): PageProblems {
  const problems: PageProblems = { console: [], failed: [], refused: [] };
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') {
      const where = message.location();
      problems.console.push(`${message.type()}: ${message.text()} (${where.url}:${where.lineNumber})`);
    }
  });
  page.on('pageerror', (error) => problems.console.push(`uncaught: ${error.message}`));
  page.on('requestfailed', (request) => {
    // A stream the page closes itself (navigation, reload) is aborted by design.
    const failure = request.failure()?.errorText ?? 'failed';
    if (failure === 'net::ERR_ABORTED' && request.url().includes('/api/system/alerts/stream')) return;
    problems.failed.push(`${request.method()} ${request.url()}: ${failure}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) {
      problems.refused.push(`${response.status()} ${response.request().method()} ${response.url()}`);
    }
  });
  return problems;
}

/** Writes a full-page PNG of `page` to `artifacts/<name>.png` and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
