/**
 * Generic structure-aware mutation of JSON-like values (configs, indexes, tables, plans,
 * messages): each op picks a node of the tree (by a number, modulo the node count) and replaces
 * it, deletes it, duplicates an array item, adds a key, or swaps in a boundary value. The input is
 * cloned first; ops are data, so fast-check can shrink them.
 */
import fc from "fast-check";

/** Values that break validators: boundary numbers, wrong types, odd strings, deep/long things. */
export const weirdJsonArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    null,
    true,
    false,
    0,
    -0,
    -1,
    1,
    0.5,
    -0.5,
    1e308,
    -1e308,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    2 ** 53 + 2,
    1e21,
    Number.MAX_SAFE_INTEGER,
    1_000_000,
    4_000_001,
    65536,
  ),
  fc.constantFrom(NaN, Infinity, -Infinity, undefined),
  fc.constantFrom(
    "",
    " ",
    "0",
    "1",
    "true",
    "null",
    "NaN",
    "__proto__",
    "constructor",
    "../../etc/passwd",
    "/etc/passwd",
    "..",
    ".",
    "a/b",
    "a\\b",
    "C:\\x",
    "\u0000",
    "é",
    "\ud800",
    "x".repeat(5000),
  ),
  fc.string({ maxLength: 8 }),
  fc.integer(),
  fc.double(),
  fc.constant([]),
  fc.constant({}),
  fc.array(fc.integer({ min: -2, max: 5 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
);

export type JsonOp =
  | { readonly kind: "replace"; readonly at: number; readonly value: unknown }
  | { readonly kind: "delete"; readonly at: number }
  | { readonly kind: "dup-item"; readonly at: number }
  | { readonly kind: "add-key"; readonly at: number; readonly key: string; readonly value: unknown }
  | { readonly kind: "nudge"; readonly at: number; readonly by: number };

export const jsonOpArb: fc.Arbitrary<JsonOp> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("replace" as const), at: fc.nat(), value: weirdJsonArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("dup-item" as const), at: fc.nat() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("add-key" as const),
      at: fc.nat(),
      key: fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom("__proto__", "constructor", "prototype")),
      value: weirdJsonArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("nudge" as const), at: fc.nat(), by: fc.constantFrom(-2, -1, 1, 2, 0.5, 1e-9, -1e-9) }) },
);

type Node = { parent: Record<string, unknown> | unknown[] | null; key: string | number; value: unknown };

function nodes(root: unknown): Node[] {
  const out: Node[] = [{ parent: null, key: "", value: root }];
  const walk = (v: unknown): void => {
    if (Array.isArray(v))
      v.forEach((x, i) => {
        out.push({ parent: v, key: i, value: x });
        walk(x);
      });
    else if (v && typeof v === "object")
      for (const k of Object.keys(v)) {
        const x = (v as Record<string, unknown>)[k];
        out.push({ parent: v as Record<string, unknown>, key: k, value: x });
        walk(x);
      }
  };
  walk(root);
  return out;
}

function setAt(n: Node, value: unknown): void {
  if (n.parent === null) return;
  Object.defineProperty(n.parent, n.key, { value, enumerable: true, writable: true, configurable: true });
}

/** Applies `ops` to a deep copy of `value`; returns the mutated copy (the root may be replaced). */
export function applyJsonOps(value: unknown, ops: readonly JsonOp[]): unknown {
  let root = structuredClone(value);
  for (const op of ops) {
    const all = nodes(root);
    const n = all[op.at % all.length]!;
    switch (op.kind) {
      case "replace":
        if (n.parent === null) root = structuredClone(op.value);
        else setAt(n, structuredClone(op.value));
        break;
      case "delete":
        if (Array.isArray(n.parent)) n.parent.splice(n.key as number, 1);
        else if (n.parent) delete (n.parent as Record<string, unknown>)[n.key as string];
        break;
      case "dup-item":
        if (Array.isArray(n.parent)) n.parent.splice(n.key as number, 0, structuredClone(n.value));
        break;
      case "add-key":
        if (n.value && typeof n.value === "object" && !Array.isArray(n.value)) {
          Object.defineProperty(n.value, op.key, { value: structuredClone(op.value), enumerable: true, writable: true, configurable: true });
        }
        break;
      case "nudge":
        if (typeof n.value === "number") {
          if (n.parent === null) root = n.value + op.by;
          else setAt(n, n.value + op.by);
        }
        break;
    }
  }
  return root;
}

/**
 * Deep equality of JSON-like values by content (own enumerable keys, Object.is on leaves),
 * ignoring prototypes (fast-check makes prototype-less objects; structuredClone does not).
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (typeof a !== "object" || a === null || typeof b !== "object" || b === null) return Object.is(a, b);
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a),
    kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** A value and the mutations applied to it (none: the value as generated). */
export function mutatedArb<T>(valid: fc.Arbitrary<T>, maxOps = 3): fc.Arbitrary<{ value: unknown; ops: readonly JsonOp[] }> {
  return fc.tuple(valid, fc.array(jsonOpArb, { maxLength: maxOps })).map(([v, ops]) => ({ value: ops.length ? applyJsonOps(v, ops) : v, ops }));
}
