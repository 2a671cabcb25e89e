/**
 * Reading the alert lists back (`AlertSink.scanRecent`): bounded scans that pass over entries
 * other programs wrote and never transfer oversized ones. Kept apart from the sink's write path.
 */
import { type AlertRecord, type AlertType, alertRecordSchema } from './schema.ts';
import type { AlertStore, ScannedEntry } from './store.ts';

/**
 * Longest list entry a read transfers, bytes; a longer one is reported by its size only. An
 * `alert.v1` record perf-sidecar writes is well under 4 KiB.
 */
export const MAX_ALERT_ENTRY_BYTES = 64 * 1024;
/** Most entries one read looks at per list, valid or not: the bound on looking past junk. */
export const MAX_ALERT_SCAN_PER_LIST = 5000;
/** Most bytes of entries one read transfers per list (two lists: 4 MiB per read in all). */
export const MAX_ALERT_READ_BYTES_PER_LIST = 2 * 1024 * 1024;
/** Entries fetched per round trip. */
const SCAN_PAGE = 100;

/** Options of `AlertSink.recent`. */
export interface RecentAlertsQuery {
  /** Only this type. */
  readonly type?: AlertType;
  /** At most this many records (newest first). */
  readonly limit: number;
}

/** What `AlertSink.scanRecent` found. */
export interface RecentAlerts {
  /** Valid records, newest first, at most `limit`. */
  readonly alerts: AlertRecord[];
  /** Entries looked past: `invalid` (not `alert.v1`) and `oversized` (not transferred). */
  readonly skipped: { readonly invalid: number; readonly oversized: number };
  /**
   * True when a list was not read to its end although fewer than `limit` records were found: the
   * scan stopped at {@link MAX_ALERT_SCAN_PER_LIST} entries or {@link MAX_ALERT_READ_BYTES_PER_LIST}.
   */
  readonly truncated: boolean;
}

/**
 * Reads `lists` (full names) of `store` as `AlertSink.scanRecent` describes: each from its
 * newest entry, in pages, until `limit` matching records, the list's end, or the per-list bounds.
 */
export async function scanAlertLists(
  store: AlertStore,
  lists: readonly string[],
  query: RecentAlertsQuery,
): Promise<RecentAlerts> {
  const out: AlertRecord[] = [];
  let invalid = 0;
  let oversized = 0;
  let truncated = false;
  for (const name of lists) {
    let found = 0;
    let scanned = 0;
    let bytes = 0;
    for (;;) {
      if (found >= query.limit) break;
      const budget = MAX_ALERT_READ_BYTES_PER_LIST - bytes;
      if (scanned >= MAX_ALERT_SCAN_PER_LIST || budget <= 0) {
        truncated = true;
        break;
      }
      // Small pages once the byte budget runs low, so that a page cannot overshoot it by much.
      const count = Math.max(
        1,
        Math.min(SCAN_PAGE, MAX_ALERT_SCAN_PER_LIST - scanned, Math.floor(budget / MAX_ALERT_ENTRY_BYTES)),
      );
      const page: ScannedEntry[] = await store.scan(name, scanned, count, MAX_ALERT_ENTRY_BYTES);
      for (const entry of page) {
        scanned++;
        if (typeof entry === 'number') {
          oversized++;
          continue;
        }
        bytes += entry.length;
        const record = parseRecord(entry);
        if (!record) invalid++;
        else if (query.type === undefined || record.type === query.type) {
          out.push(record);
          found++;
        }
      }
      if (page.length < count) break;
    }
  }
  out.sort((a, b) => (a.lastSeenAt < b.lastSeenAt ? 1 : a.lastSeenAt > b.lastSeenAt ? -1 : 0));
  return { alerts: out.slice(0, query.limit), skipped: { invalid, oversized }, truncated };
}

function parseRecord(text: string): AlertRecord | undefined {
  try {
    const parsed = alertRecordSchema.safeParse(JSON.parse(text));
    return parsed.success ? (parsed.data as AlertRecord) : undefined;
  } catch {
    return undefined;
  }
}
