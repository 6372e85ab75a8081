/** Tiny DOM helpers (no framework): element creation without innerHTML, so no data is ever parsed as markup. */

type Attrs = Record<string, string | number | boolean | undefined | null>;
type Child = Node | string | number | null | undefined | false;

/** Creates an element; attributes with undefined/null/false values are skipped, `true` sets an empty attribute. */
export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: readonly Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" || typeof c === "number" ? String(c) : c);
  }
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** Creates an SVG element with presentation attributes (no `style` attribute: the CSP forbids inline styles). */
export function s(tag: string, attrs: Attrs = {}, ...children: Child[]): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

/** Removes all children. */
export function clear(el: Element): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

/** A definition-style table from label/value rows. */
export function keyValueTable(caption: string, rows: readonly (readonly [string, Child])[], id?: string): HTMLElement {
  const body = h("tbody");
  for (const [k, v] of rows) body.append(h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)));
  return h("table", { class: "kv", id }, h("caption", {}, caption), body);
}
