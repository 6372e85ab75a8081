/**
 * Byte-level slice surgery on whole tensors (no float conversion, so copies are bit-exact).
 * A slice is a SliceRef: index ranges along axis 0 (rows; for a 1-D bias, elements) or axis 1
 * (columns of a 2-D tensor). "Stored order" bytes of a slice: for axis 0 the rows one after the
 * other; for axis 1, row by row, the columns of each range in order.
 */
import type { SliceRef } from "../model/types";

/** A tensor's geometry for slicing: rows along axis 0, each of `rowElems` elements of `elem` bytes. */
export interface Geometry {
  readonly rows: number;
  readonly rowElems: number; // product of shape[1:] (1 for a 1-D tensor)
  readonly elem: number; // bytes per element
}

export function geometry(shape: readonly number[], elem: number): Geometry {
  return { rows: shape[0] ?? 1, rowElems: shape.slice(1).reduce((a, b) => a * b, 1), elem };
}

const span = (ranges: readonly (readonly [number, number])[]): number => ranges.reduce((s, [b, e]) => s + (e - b), 0);

/** Copies a slice out of a whole tensor's bytes (stored order). */
export function extractSlice(buf: Uint8Array, g: Geometry, ref: SliceRef): Uint8Array {
  const rowBytes = g.rowElems * g.elem;
  if (ref.axis === 0) {
    const out = new Uint8Array(span(ref.ranges) * rowBytes); // [Σ rows, rowElems] raw bytes
    let o = 0;
    for (const [b, e] of ref.ranges) {
      out.set(buf.subarray(b * rowBytes, e * rowBytes), o);
      o += (e - b) * rowBytes;
    }
    return out;
  }
  const w = span(ref.ranges) * g.elem;
  const out = new Uint8Array(g.rows * w); // [rows, Σ cols] raw bytes
  let o = 0;
  for (let r = 0; r < g.rows; r++) {
    for (const [b, e] of ref.ranges) {
      out.set(buf.subarray(r * rowBytes + b * g.elem, r * rowBytes + e * g.elem), o);
      o += (e - b) * g.elem;
    }
  }
  return out;
}

/** Writes a slice (stored order bytes, as extractSlice returns) into a whole tensor's bytes. */
export function scatterSlice(buf: Uint8Array, g: Geometry, ref: SliceRef, bytes: Uint8Array): void {
  const rowBytes = g.rowElems * g.elem;
  let o = 0;
  if (ref.axis === 0) {
    for (const [b, e] of ref.ranges) {
      buf.set(bytes.subarray(o, o + (e - b) * rowBytes), b * rowBytes);
      o += (e - b) * rowBytes;
    }
    return;
  }
  for (let r = 0; r < g.rows; r++) {
    for (const [b, e] of ref.ranges) {
      const n = (e - b) * g.elem;
      buf.set(bytes.subarray(o, o + n), r * rowBytes + b * g.elem);
      o += n;
    }
  }
}

/** Sorted, merged, disjoint ranges. */
export function mergeRanges(ranges: readonly (readonly [number, number])[]): [number, number][] {
  const s = [...ranges].map(([b, e]) => [b, e] as [number, number]).sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [b, e] of s) {
    const last = out[out.length - 1];
    if (last && b <= last[1]) last[1] = Math.max(last[1], e);
    else out.push([b, e]);
  }
  return out;
}

/** The complement of sorted disjoint `drop` within [0, size). */
export function keptRanges(size: number, drop: readonly (readonly [number, number])[]): [number, number][] {
  const out: [number, number][] = [];
  let at = 0;
  for (const [b, e] of drop) {
    if (b > at) out.push([at, b]);
    at = e;
  }
  if (at < size) out.push([at, size]);
  return out;
}

/** Index in the compact tensor of a kept dense index (dense index − dropped indices before it). */
export function compactIndex(i: number, drop: readonly (readonly [number, number])[]): number {
  let before = 0;
  for (const [b, e] of drop) {
    if (e <= i) before += e - b;
    else if (b <= i) throw new RangeError(`index ${i} is dropped`);
    else break;
  }
  return i - before;
}

/** The size of `axis` of a tensor after dropping. */
export function sizeAfterDrop(size: number, drop: readonly (readonly [number, number])[]): number {
  return size - span(drop);
}
