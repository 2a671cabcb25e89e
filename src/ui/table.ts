/**
 * The operations table (`#operations`): one row per operation of the summary, sortable by any
 * column (a button in each header cell, `aria-sort` on the sorted one). Rows whose p95 is over the
 * target carry the class `over` and a visible "▲ over target" marker, so colour is never the only
 * sign. For tests and scripts, each row has `data-operation` and each figure cell `data-field` and
 * `data-value` (the API's raw number, empty when it is `null` or absent).
 */
import type { OperationFigures } from './api.ts';
import { byId, h, replaceChildren } from './dom.ts';
import { formatApdex, formatCount, formatDuration, formatShare } from './format.ts';

/** A figure column. */
interface Column {
  /** `data-field` of its cells, and the sort key. */
  readonly field: Field;
  readonly label: string;
  /** Longer header text for assistive technology and the tooltip. */
  readonly title: string;
  readonly value: (row: OperationFigures) => number | null;
  readonly format: (value: number | null) => string;
  /** A duration judged against the target. */
  readonly againstTarget?: boolean;
}

/** The figure fields, as `data-field` names them. */
export type Field =
  | 'count'
  | 'errors'
  | 'p50_s'
  | 'p95_s'
  | 'p99_s'
  | 'target_s'
  | 'apdex'
  | 'breach_rate'
  | 'budget_remaining';

/**
 * Most rows drawn (the sidecar keeps up to `PERF_MAX_OPERATIONS` names, 100,000 at most): past it,
 * the first rows in the current order and a note to narrow the view with the operation filter.
 */
export const MAX_ROWS = 2000;

/** The sort keys: a figure field, or the operation's name. */
export type SortKey = Field | 'name';

const COLUMNS: readonly Column[] = [
  { field: 'count', label: 'Runs', title: 'Runs in the window', value: (r) => r.count, format: formatCount },
  {
    field: 'errors',
    label: 'Errors',
    title: 'Runs that failed',
    value: (r) => r.errors,
    format: formatCount,
  },
  {
    field: 'p50_s',
    label: 'p50',
    title: 'Median duration',
    value: (r) => r.p50_s,
    format: formatDuration,
    againstTarget: true,
  },
  {
    field: 'p95_s',
    label: 'p95',
    title: '95th percentile duration',
    value: (r) => r.p95_s,
    format: formatDuration,
    againstTarget: true,
  },
  {
    field: 'p99_s',
    label: 'p99',
    title: '99th percentile duration',
    value: (r) => r.p99_s,
    format: formatDuration,
    againstTarget: true,
  },
  {
    field: 'target_s',
    label: 'Target',
    title: 'Target duration',
    value: (r) => r.target_s,
    format: formatDuration,
  },
  {
    field: 'apdex',
    label: 'Apdex',
    title: 'Apdex (satisfied within the target, tolerated up to four times it)',
    value: (r) => r.apdex,
    format: formatApdex,
  },
  {
    field: 'breach_rate',
    label: 'Breaches',
    title: 'Share of runs over the target',
    value: (r) => r.breach_rate,
    format: formatShare,
  },
  {
    field: 'budget_remaining',
    label: 'Budget left',
    title: "Share of the error budget left over the objective's period",
    value: (r) => r.slo?.budget_remaining ?? null,
    format: formatShare,
  },
];

/** Whether an operation's p95 is over its target (the row stands out). */
export function isOverTarget(row: OperationFigures): boolean {
  return row.p95_s !== null && row.target_s !== null && row.p95_s > row.target_s;
}

/** See the module comment. */
export class OperationsTable {
  readonly #table = byId('operations', HTMLTableElement);
  readonly #caption = byId('operations-caption', HTMLElement);
  readonly #body: HTMLTableSectionElement;
  readonly #headers = new Map<SortKey, HTMLTableCellElement>();
  readonly #onSelect: (operation: string) => void;
  #sort: { key: SortKey; descending: boolean } = { key: 'name', descending: false };
  #rows: readonly [string, OperationFigures][] = [];
  #selected: string | undefined;
  #context = '';

  /** `onSelect` runs when an operation's name is chosen (click, Enter or Space). */
  constructor(onSelect: (operation: string) => void) {
    this.#onSelect = onSelect;
    const head = this.#table.tHead ?? this.#table.createTHead();
    this.#body = this.#table.tBodies[0] ?? this.#table.createTBody();
    const header = (key: SortKey, label: string, title: string) => {
      const button = h(
        'button',
        { type: 'button', title, 'data-sort': key },
        label,
        h('span', { class: 'sort-icon', 'aria-hidden': 'true' }),
      );
      button.addEventListener('click', () => this.#sortBy(key));
      const cell = h(
        'th',
        { scope: 'col', 'aria-sort': 'none', 'data-field': key === 'name' ? undefined : key },
        button,
      );
      this.#headers.set(key, cell);
      return cell;
    };
    replaceChildren(
      head,
      h(
        'tr',
        {},
        header('name', 'Operation', 'Operation name'),
        ...COLUMNS.map((c) => header(c.field, c.label, c.title)),
      ),
    );
    this.#body.addEventListener('click', (event) => {
      const button = (event.target as Element | null)?.closest('button[data-select]');
      const name = button?.getAttribute('data-select');
      if (name !== null && name !== undefined) this.#onSelect(name);
    });
    this.#showSort();
  }

  /** Shows `operations`; `context` describes them (service and window) for the caption. */
  render(operations: Readonly<Record<string, OperationFigures>>, context: string): void {
    this.#rows = Object.entries(operations);
    this.#context = context;
    this.#draw();
  }

  /** Marks `operation` as the one whose charts are shown. */
  select(operation: string | undefined): void {
    this.#selected = operation;
    for (const row of this.#body.rows) {
      const mine = operation !== undefined && row.dataset.operation === operation;
      row.classList.toggle('selected', mine);
      row.querySelector('button[data-select]')?.setAttribute('aria-pressed', String(mine));
    }
  }

  #sortBy(key: SortKey): void {
    const current = this.#sort;
    // Figures start with the largest first (the worst, mostly); names alphabetically.
    this.#sort =
      current.key === key ? { key, descending: !current.descending } : { key, descending: key !== 'name' };
    this.#showSort();
    this.#draw();
  }

  #showSort(): void {
    for (const [key, cell] of this.#headers) {
      const sorted = key === this.#sort.key;
      cell.setAttribute('aria-sort', sorted ? (this.#sort.descending ? 'descending' : 'ascending') : 'none');
      const icon = cell.querySelector('.sort-icon');
      if (icon) icon.textContent = sorted ? (this.#sort.descending ? '▼' : '▲') : '';
    }
  }

  #sorted(): [string, OperationFigures][] {
    const { key, descending } = this.#sort;
    const column = COLUMNS.find((c) => c.field === key);
    const rows = [...this.#rows];
    rows.sort(([nameA, a], [nameB, b]) => {
      if (!column) return descending ? nameB.localeCompare(nameA) : nameA.localeCompare(nameB);
      const va = column.value(a);
      const vb = column.value(b);
      // Missing figures go last whichever the direction.
      if (va === null || vb === null) return va === vb ? nameA.localeCompare(nameB) : va === null ? 1 : -1;
      return (descending ? vb - va : va - vb) || nameA.localeCompare(nameB);
    });
    return rows;
  }

  #draw(): void {
    // Re-drawing replaces the rows: put the keyboard focus back on the same button afterwards.
    const focused = document.activeElement?.closest('tr[data-operation]')?.getAttribute('data-operation');
    const rows = this.#sorted();
    const direction = this.#sort.descending ? 'descending' : 'ascending';
    const by =
      this.#sort.key === 'name' ? 'name' : (COLUMNS.find((c) => c.field === this.#sort.key)?.label ?? '');
    this.#caption.textContent = `Operations ${this.#context}, sorted by ${by}, ${direction}`;
    if (rows.length === 0) {
      replaceChildren(
        this.#body,
        h(
          'tr',
          {},
          h('td', { class: 'empty', colspan: COLUMNS.length + 1 }, 'No operations in this window.'),
        ),
      );
      return;
    }
    replaceChildren(this.#body, ...rows.slice(0, MAX_ROWS).map(([name, row]) => this.#row(name, row)));
    if (rows.length > MAX_ROWS) {
      const note = `Showing the first ${formatCount(MAX_ROWS)} of ${formatCount(rows.length)} operations in this order; the operation filter shows one.`;
      this.#body.append(h('tr', {}, h('td', { class: 'empty', colspan: COLUMNS.length + 1 }, note)));
    }
    this.select(this.#selected);
    if (focused) {
      const again = [...this.#body.rows].find((r) => r.dataset.operation === focused);
      again?.querySelector<HTMLButtonElement>('button[data-select]')?.focus();
    }
  }

  #row(name: string, row: OperationFigures): HTMLTableRowElement {
    const over = isOverTarget(row);
    const nameCell = h(
      'th',
      { scope: 'row' },
      h(
        'button',
        { type: 'button', class: 'op-button', 'data-select': name, 'aria-pressed': 'false', title: name },
        name,
      ),
      over ? h('span', { class: 'over-badge' }, '▲ over target') : null,
    );
    const cells = COLUMNS.map((column) => {
      const value = column.value(row);
      const overCell =
        column.againstTarget === true && value !== null && row.target_s !== null && value > row.target_s;
      const lowBudget = column.field === 'budget_remaining' && value !== null && value < 0.25;
      const text = column.format(value);
      return h(
        'td',
        {
          'data-field': column.field,
          'data-value': value === null ? '' : String(value),
          class: overCell ? 'over-cell' : lowBudget ? 'budget-low' : undefined,
          title: overCell ? `${text}, over the target of ${formatDuration(row.target_s)}` : undefined,
        },
        text,
      );
    });
    return h('tr', { 'data-operation': name, class: over ? 'over' : undefined }, nameCell, ...cells);
  }
}
