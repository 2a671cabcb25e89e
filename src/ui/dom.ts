/**
 * Small DOM helpers: elements built from a tag, attributes and children (text is always set as
 * text, never parsed as HTML, so no figure or name from the API can inject markup), lookups of the
 * page's fixed elements that fail loudly when the template and the code disagree, and `<time>`
 * elements.
 */
import { formatLocalTime, formatUtc, NONE } from './format.ts';

/** An attribute value: a string, `true` for a present boolean attribute, nothing to leave it out. */
export type AttributeValue = string | number | boolean | null | undefined;

/** A child: an element, text, or nothing. */
export type Child = Node | string | null | undefined | false;

/**
 * Creates an element. `class` sets the class list; `false`, `null` and `undefined` leave an
 * attribute out. There is deliberately no way to set `style`: the page's CSP forbids inline style.
 */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Readonly<Record<string, AttributeValue>> = {},
  ...children: readonly Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    element.setAttribute(name, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

/** Appends children to `parent` (text as text nodes). */
export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
  }
}

/** Replaces every child of `parent`. */
export function replaceChildren(parent: Element, ...children: readonly Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

/**
 * The element with `id`, of the expected class.
 *
 * @throws {Error} naming the id and the expected element when the page template lacks it.
 */
export function byId<T extends HTMLElement>(id: string, type: { new (): T; readonly name: string }): T {
  const element = document.getElementById(id);
  if (!(element instanceof type)) {
    throw new Error(`the page has no ${type.name} with id "${id}"; index.html and the script disagree`);
  }
  return element;
}

/** A `<time>` for an ISO 8601 instant, in the viewer's time zone, with UTC in its title. */
export function timeElement(iso: string, className?: string): HTMLTimeElement {
  const ms = Date.parse(iso);
  if (!Number.isFinite(ms)) return h('time', { class: className }, NONE);
  return h('time', { datetime: iso, title: formatUtc(ms), class: className }, formatLocalTime(ms));
}
