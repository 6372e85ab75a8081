/**
 * Reading one layer's weights at a time for the layer-streamed forward, as dense float32 (F16 and
 * BF16 stay 2 bytes on disk and are widened here, just before the layer runs).
 *
 * The read of layer l + 1 overlaps the compute of layer l (`prefetch`): its stored bytes are read
 * with positioned reads on libuv's thread pool into one reused byte arena while onnxruntime runs
 * layer l on the main thread; `readLayer(l + 1)` then waits for what is left of the read and widens
 * into float32 arrays reused from layer to layer (no allocation, no page faults per layer). The
 * arrays `readLayer` returns are therefore valid until the next `readLayer` call.
 *
 * A shared model is the original plus a plan, applied while reading: every target's q/k/v rows,
 * o columns and bias slices are its root's (method.md §4). `applyPlan` writes them into the layer's
 * arrays in place for one run and `restore` puts the original values back (no copy of a whole
 * tensor). A root's slices come from the root's layer: kept in memory from that layer's read until
 * their last target's layer (`keepRoots`, stored bytes, when the memory budget holds them: no read
 * on the critical path), else read by position from the file (`readSlice`: rows with one positioned
 * read, columns with one strided read). A compact file is read the same way with its own plan: its
 * stored tensors are widened to their dense shape and the dropped slices filled from the roots.
 * Nothing is ever written.
 *
 * Before every layer the files are stat'ed again (`fileStamps.ts`): a checkpoint that changes while
 * it is read (size or modification time) is an error naming the file, never a silent mix of two versions.
 */
import type { Checkpoint } from "../model/checkpoint";
import type { SliceRef } from "../model/types";
import { unitLayout } from "../model/units";
import { bytesToF32, DTYPE_SIZE, numel, widenInto } from "../safetensors/dtype";
import type { DType } from "../safetensors/types";
import { checkPlan, compactIndexMap, dropMap, flatIndices, sharedProjections } from "../graph/compact";
import { compactPlanOf } from "../graph/forward";
import type { ShapeOf } from "../graph/types";
import type { PlanTarget, SharingPlan } from "../share/types";
import { EvalError } from "./errors";
import { fileStamps, type FileStamps } from "./fileStamps";
import { LayerBuffers } from "./layerBuffers";

/** The targets of `plan` in layer `l` (a target's root is always in a lower layer). */
export function targetsOfLayer(plan: SharingPlan | undefined, l: number): PlanTarget[] {
  return plan ? plan.targets.filter((t) => t.layer === l) : [];
}

/** One layer's stored bytes being read into the arena (positioned reads on libuv's pool). */
interface PendingRead {
  readonly layer: number;
  /** The tensors, newline-joined: a read is reused only for the same list. */
  readonly key: string;
  readonly buffers: LayerBuffers;
  readonly done: Promise<void>;
}

/** One stored range of a root's slice: kept from its layer's read until its last target's layer. */
interface RootPart {
  readonly key: string;
  readonly tensor: string;
  readonly axis: 0 | 1;
  /** Stored indices [begin, end) along `axis`. */
  readonly begin: number;
  readonly end: number;
  /** The last layer with a target that reads it. */
  readonly until: number;
  readonly bytes: number;
}

/** The root parts of some plans by root layer, and the most bytes kept at once. */
export interface RootParts {
  readonly byLayer: ReadonlyMap<number, readonly RootPart[]>;
  readonly peakBytes: number;
}

const partKey = (tensor: string, axis: 0 | 1, begin: number, end: number): string => `${tensor}\n${axis}\n${begin}\n${end}`;

/** Dtypes widened into the reused float32 arrays (others are converted into fresh ones). */
const reusable = (d: DType): d is "F32" | "F16" | "BF16" => d === "F32" || d === "F16" || d === "BF16";

export class LayerWeights {
  private readonly stamps: FileStamps;
  /** The byte arena and float32 arrays reused by every layer (tensor i of the layer's list: slot i). */
  private buffers: LayerBuffers | undefined;
  private pending: PendingRead | undefined;
  /** The root parts to keep (`keepRoots`) and those kept now (stored bytes, by part key). */
  private roots: RootParts | undefined;
  private readonly kept = new Map<string, { readonly bytes: Uint8Array; readonly until: number }>();
  /** Buffers of parts no longer kept, by byte length, for the next parts of that length (fresh ones cost page faults). */
  private readonly spare = new Map<number, Uint8Array[]>();
  /** Compact files: the dense index → stored index map of every tensor with dropped slices. */
  private readonly storedIndex = new Map<string, { readonly axis: 0 | 1; readonly map: Int32Array }>();
  readonly compactPlan: SharingPlan | undefined;
  /** The dense shape of a tensor (a compact file's original shape). */
  readonly dense: ShapeOf;

  constructor(readonly ckpt: Checkpoint) {
    this.stamps = fileStamps(ckpt);
    this.compactPlan = compactPlanOf(ckpt);
    this.dense = (t) => ckpt.compact?.originalShapes[t] ?? ckpt.source.info(t).shape;
    if (this.compactPlan) {
      const dm = dropMap(ckpt.spec, this.compactPlan);
      for (const [t, dropped] of dm.dropped) {
        if (dropped.size === 0) continue;
        const axis = dm.axis.get(t)!;
        this.storedIndex.set(t, { axis, map: compactIndexMap(this.dense(t)[axis]!, dropped) });
      }
    }
  }

  get file(): string {
    return this.ckpt.weightsPath;
  }

  /** Throws EvalError("changed") naming the file when a weights file changed since it was opened. */
  checkUnchanged(): void {
    this.stamps.check();
  }

  /** Checks a plan to apply in memory fits this (dense) checkpoint; throws naming the file. */
  checkPlan(plan: SharingPlan): void {
    if (this.compactPlan)
      throw new EvalError(
        "bad-option",
        `${this.file}: is already a compact shared checkpoint; a plan can only be applied to a dense one (pass the original model)`,
      );
    try {
      checkPlan(this.ckpt.spec, plan, this.file);
    } catch (e) {
      throw new EvalError("mismatch", e instanceof Error ? e.message : String(e));
    }
  }

  /**
   * Layer `l`'s tensors as dense float32 (a compact file's dropped slices filled from their roots).
   * `tensors` are the tensors the layer's block graph reads.
   */
  async readLayer(l: number, tensors: readonly string[]): Promise<Map<string, Float32Array>> {
    const list = [...new Set(tensors)];
    let read = this.pending;
    this.pending = undefined;
    if (read && (read.layer !== l || read.key !== list.join("\n"))) {
      await read.done.catch(() => undefined);
      read = undefined;
    }
    if (read) this.checkUnchanged();
    else read = this.startRead(l, list);
    await read.done;
    this.keepLayerRoots(l, list, read.buffers);
    const out = new Map<string, Float32Array>();
    list.forEach((t, slot) => {
      const info = this.ckpt.source.info(t);
      const idx = this.storedIndex.get(t);
      if (!reusable(info.dtype) || idx) {
        const stored = bytesToF32(read.buffers.view(slot), info.dtype);
        out.set(t, idx ? this.expand(t, stored, idx) : stored);
      } else out.set(t, read.buffers.widen(slot, info.dtype));
    });
    const own = targetsOfLayer(this.compactPlan, l);
    if (own.length > 0) await this.fillTargets(this.compactPlan!, own, out);
    return out;
  }

  /**
   * Starts reading layer `l`'s stored bytes now (they are read while the caller computes; the next
   * `readLayer(l, tensors)` uses them). At most one read is in flight: a second call is ignored.
   * The read fills only the byte arena, never the arrays the last `readLayer` returned, so the
   * layer they hold can run meanwhile.
   */
  prefetch(l: number, tensors: readonly string[]): void {
    if (this.pending) return;
    this.pending = this.startRead(l, [...new Set(tensors)]);
  }

  /** Waits for a read in flight (its errors are dropped: nobody will use it) and frees the buffers. */
  async settle(): Promise<void> {
    const p = this.pending;
    this.pending = undefined;
    if (p) await p.done.catch(() => undefined);
    this.buffers = undefined;
    this.kept.clear();
    this.spare.clear();
  }

  /**
   * The stored ranges of the roots that `plans` read, by root layer, and the most bytes alive at
   * once when each is kept from its layer's read to its last target's layer (the memory budget's
   * `rootSlices`).
   */
  rootParts(plans: readonly SharingPlan[]): RootParts {
    const spec = this.ckpt.spec;
    const parts = new Map<string, { tensor: string; axis: 0 | 1; begin: number; end: number; from: number; until: number; bytes: number }>();
    for (const plan of plans)
      for (const t of plan.targets) {
        const src = unitLayout(spec, t.rootLayer, t.rootUnit, plan.granularity);
        for (const p of sharedProjections(plan)) {
          const s = src[p];
          if (!s) continue;
          const info = this.ckpt.source.info(s.tensor);
          const line = s.axis === 0 ? numel(info.shape.slice(1)) : info.shape[0]!; // values per index along the axis
          for (const [a, b] of s.ranges) {
            const [sa, sb] = this.storedRange(s.tensor, a, b);
            const key = partKey(s.tensor, s.axis, sa, sb);
            const old = parts.get(key);
            if (old) old.until = Math.max(old.until, t.layer);
            else
              parts.set(key, {
                tensor: s.tensor,
                axis: s.axis,
                begin: sa,
                end: sb,
                from: t.rootLayer,
                until: t.layer,
                bytes: (sb - sa) * line * DTYPE_SIZE[info.dtype],
              });
          }
        }
      }
    const byLayer = new Map<number, RootPart[]>();
    let peakBytes = 0;
    for (let l = 0; l < spec.layers; l++) {
      let alive = 0;
      for (const p of parts.values()) if (p.from <= l && l <= p.until) alive += p.bytes;
      peakBytes = Math.max(peakBytes, alive);
    }
    for (const [key, p] of parts) byLayer.set(p.from, [...(byLayer.get(p.from) ?? []), { key, ...p }]);
    return { byLayer, peakBytes };
  }

  /** Bytes `applyPlan` keeps to restore a layer: 4 × the targets' slices of the layer with the most. */
  savedBytes(plan: SharingPlan): number {
    const spec = this.ckpt.spec;
    const perLayer = new Array<number>(spec.layers).fill(0);
    for (const t of plan.targets) {
      const lay = unitLayout(spec, t.layer, t.unit, plan.granularity);
      for (const p of sharedProjections(plan)) {
        const r = lay[p];
        if (!r) continue;
        const shape = this.dense(r.tensor);
        perLayer[t.layer]! += 4 * flatIndices(r).length * (r.axis === 0 ? numel(shape.slice(1)) : shape[0]!);
      }
    }
    return Math.max(0, ...perLayer);
  }

  /** From the next layer read on, keeps `parts` in memory (see rootParts) instead of reading them from the file. */
  keepRoots(parts: RootParts): void {
    this.roots = parts;
  }

  /** Copies the root parts stored in layer `l` out of the arena and drops those no later layer reads. */
  private keepLayerRoots(l: number, list: readonly string[], buffers: LayerBuffers): void {
    if (!this.roots) return;
    for (const [k, v] of this.kept)
      if (l === 0 || v.until < l) {
        this.kept.delete(k);
        this.spare.set(v.bytes.byteLength, [...(this.spare.get(v.bytes.byteLength) ?? []), v.bytes]);
      }
    const buffer = (n: number): Uint8Array => this.spare.get(n)?.pop() ?? new Uint8Array(n);
    for (const p of this.roots.byLayer.get(l) ?? []) {
      const slot = list.indexOf(p.tensor);
      if (slot < 0) continue; // not in this block graph's weights: read from the file when needed
      const info = this.ckpt.source.info(p.tensor);
      const view = buffers.view(slot); // the tensor's stored bytes
      const es = DTYPE_SIZE[info.dtype];
      let bytes: Uint8Array;
      if (p.axis === 0) {
        const row = numel(info.shape.slice(1)) * es;
        bytes = buffer((p.end - p.begin) * row); // [k, cols] stored
        bytes.set(view.subarray(p.begin * row, p.end * row));
      } else {
        const rows = info.shape[0]!,
          cols = info.shape[1]!,
          w = (p.end - p.begin) * es;
        bytes = buffer(rows * w); // [rows, k] stored: what readStridedBytes returns
        copyColumns(view, bytes, rows, cols, p.begin, p.end - p.begin, es);
      }
      this.kept.set(p.key, { bytes, until: p.until });
    }
  }

  /** A dense index range [a, b) of a tensor → its stored range (a compact file's), refused when dropped or split. */
  private storedRange(tensor: string, a: number, b: number): [number, number] {
    const idx = this.storedIndex.get(tensor);
    const stored = (i: number): number => {
      const c = idx ? idx.map[i]! : i;
      if (c < 0)
        throw new EvalError("mismatch", `${this.file}: "${tensor}" index ${i} is a dropped slice read as a root; the plan's roots must be stored units`);
      return c;
    };
    const sa = stored(a),
      sb = stored(b - 1) + 1;
    if (sb - sa !== b - a)
      throw new EvalError("mismatch", `${this.file}: "${tensor}" range [${a}, ${b}) is not stored contiguously; the plan does not fit the file`);
    return [sa, sb];
  }

  private startRead(l: number, list: readonly string[]): PendingRead {
    this.checkUnchanged();
    const src = this.ckpt.source;
    const infos = list.map((t) => src.info(t));
    const bytes = infos.map((i) => i.dataOffsets[1] - i.dataOffsets[0]);
    const values = infos.map((i) => (reusable(i.dtype) && !this.storedIndex.has(i.name) ? numel(i.shape) : 0));
    // a new set only when the layer's sizes differ: the previous layer's arrays stay valid meanwhile
    if (!this.buffers?.fits(bytes, values)) this.buffers = new LayerBuffers(bytes, values);
    const buffers = this.buffers;
    // every read is submitted now, so the pool reads while the main thread runs the previous layer
    // large tensors bypass the page cache (O_DIRECT) where they can: the kernel's copy would take CPU
    // time from the layer that runs meanwhile; each read is one pool job, so it goes on while
    // onnxruntime holds the main thread
    const done = Promise.all(
      list.map(async (t, i) => {
        const region = buffers.region(i);
        const direct = region && src.readBytesDirect ? await src.readBytesDirect(t, region) : undefined;
        if (direct) return buffers.place(i, direct);
        const v = buffers.reset(i);
        if (src.readBytesInto) await src.readBytesInto(t, v);
        else v.set(await src.readBytes(t));
      }),
    ).then(() => undefined);
    done.catch(() => undefined); // awaited by readLayer (or dropped by settle): never unhandled
    return { layer: l, key: list.join("\n"), buffers, done };
  }

  /**
   * Writes every target's root slices of layer `l` into `layer`'s arrays (the dense DirectShare
   * output of that layer), in place. With `restorable`, the returned `restore` puts the overwritten
   * values back (call it once the run that reads them has finished, before the next `applyPlan`);
   * without, it does nothing and the arrays keep the plan until the next `readLayer`, which widens
   * every array again.
   */
  async applyPlan(l: number, plan: SharingPlan, layer: ReadonlyMap<string, Float32Array>, restorable = true): Promise<() => void> {
    const targets = targetsOfLayer(plan, l);
    const saved: { readonly dst: Float32Array; readonly shape: readonly number[]; readonly ref: SliceRef; readonly data: Float32Array }[] = [];
    const restore = (): void => {
      for (const s of saved.reverse()) writeSlice(s.dst, s.shape, s.ref, s.data, this.file);
      saved.length = 0;
    };
    if (targets.length === 0) return restore;
    this.checkUnchanged();
    try {
      const save = (dst: Float32Array, shape: readonly number[], ref: SliceRef): void =>
        void saved.push({ dst, shape, ref, data: sliceValues(dst, shape, ref) });
      await this.fillTargets(plan, targets, layer, restorable ? save : undefined);
    } catch (e) {
      restore();
      throw e;
    }
    return restore;
  }

  /** Rows [begin, end) of a tensor that no plan touches (embedding, lm_head), as float32. */
  async rows(tensor: string, begin: number, end: number): Promise<Float32Array> {
    return this.ckpt.source.readRowsF32(tensor, begin, end);
  }

  /** Bytes of one layer's tensors in their stored dtype (the read arena: the next layer, read while this one runs). */
  readBufferBytes(tensors: readonly string[]): number {
    return [...new Set(tensors)].reduce((a, t) => {
      const info = this.ckpt.source.info(t);
      return a + info.dataOffsets[1] - info.dataOffsets[0];
    }, 0);
  }

  /** A stored tensor with dropped slices → its dense shape (dropped slices zero until filled). */
  private expand(t: string, stored: Float32Array, idx: { axis: 0 | 1; map: Int32Array }): Float32Array {
    const shape = this.dense(t);
    const rows = shape[0]!,
      cols = shape.length === 2 ? shape[1]! : 1;
    const out = new Float32Array(rows * cols); // dense [rows, cols] f32
    if (idx.axis === 0) {
      for (let i = 0; i < rows; i++) {
        const c = idx.map[i]!;
        if (c >= 0) out.set(stored.subarray(c * cols, (c + 1) * cols), i * cols);
      }
    } else {
      const kept = this.ckpt.source.info(t).shape[1]!;
      for (let r = 0; r < rows; r++)
        for (let j = 0; j < cols; j++) {
          const c = idx.map[j]!;
          if (c >= 0) out[r * cols + j] = stored[r * kept + c]!;
        }
    }
    return out;
  }

  /** Writes each target's root slices into the (dense) arrays of `into` that hold the target's tensors. */
  private async fillTargets(
    plan: SharingPlan,
    targets: readonly PlanTarget[],
    into: ReadonlyMap<string, Float32Array>,
    beforeWrite?: (dst: Float32Array, shape: readonly number[], ref: SliceRef) => void,
  ): Promise<void> {
    const spec = this.ckpt.spec;
    for (const t of targets) {
      const dst = unitLayout(spec, t.layer, t.unit, plan.granularity);
      const src = unitLayout(spec, t.rootLayer, t.rootUnit, plan.granularity);
      for (const p of sharedProjections(plan)) {
        const d = dst[p],
          s = src[p];
        if (!d || !s || !into.has(d.tensor)) continue;
        const target = into.get(d.tensor)!,
          shape = this.dense(d.tensor);
        beforeWrite?.(target, shape, d);
        if (!this.widenKept(s, target, shape, d)) writeSlice(target, shape, d, await this.readSlice(s), this.file);
      }
    }
  }

  /**
   * A root slice kept in memory (one stored range) widened straight into ref `d` (one range) of a
   * dense [rows, cols] array; false when it is not kept that way (the caller reads it).
   */
  private widenKept(s: SliceRef, dst: Float32Array, shape: readonly number[], d: SliceRef): boolean {
    if (s.ranges.length !== 1 || d.ranges.length !== 1 || s.axis !== d.axis) return false;
    const [sa, sb] = this.storedRange(s.tensor, s.ranges[0]![0], s.ranges[0]![1]);
    const kept = this.kept.get(partKey(s.tensor, s.axis, sa, sb));
    const dtype = this.ckpt.source.info(s.tensor).dtype;
    if (!kept || !reusable(dtype)) return false;
    const [a, b] = d.ranges[0]!;
    const cols = shape.length === 2 ? shape[1]! : 1,
      rows = shape[0]!;
    const es = DTYPE_SIZE[dtype];
    if (kept.bytes.byteLength !== (b - a) * (d.axis === 0 ? cols : rows) * es)
      throw new EvalError(
        "mismatch",
        `${this.file}: a root slice of ${kept.bytes.byteLength / es} values does not fit "${d.tensor}"'s ${b - a} ${d.axis === 0 ? "rows" : "columns"}; the plan does not fit the model`,
      );
    if (d.axis === 0) widenInto(kept.bytes, dtype, dst.subarray(a * cols, b * cols));
    else widenColumns(kept.bytes, dtype, dst, rows, cols, a, b - a);
    return true;
  }

  /**
   * The elements of a (stored, never dropped) slice as float32: axis 0 → [k, cols] (k rows),
   * axis 1 → [rows, k] (k columns). Reads only the slice.
   */
  async readSlice(s: SliceRef): Promise<Float32Array> {
    const info = this.ckpt.source.info(s.tensor);
    const shape = info.shape;
    const parts: Float32Array[] = [];
    const es = DTYPE_SIZE[info.dtype];
    for (const [a, b] of s.ranges) {
      const [sa, sb] = this.storedRange(s.tensor, a, b);
      const kept = this.kept.get(partKey(s.tensor, s.axis, sa, sb));
      if (kept) parts.push(bytesToF32(kept.bytes, info.dtype));
      else if (s.axis === 0) parts.push(await this.ckpt.source.readRowsF32(s.tensor, sa, sb));
      else {
        const rows = shape[0]!,
          cols = shape[1]!;
        const bytes = this.ckpt.source.readStridedBytes
          ? await this.ckpt.source.readStridedBytes(s.tensor, sa * es, (sb - sa) * es, cols * es, rows)
          : await stridedFallback(this, s.tensor, sa, sb, rows, cols);
        parts.push(bytesToF32(bytes, info.dtype));
      }
    }
    if (parts.length === 1) return parts[0]!;
    if (s.axis === 0) return concat(parts);
    // columns from several ranges: interleave per row ([rows, k_i] each → [rows, Σ k_i])
    const rows = shape[0]!,
      widths = parts.map((p) => p.length / rows),
      k = widths.reduce((x, y) => x + y, 0);
    const out = new Float32Array(rows * k);
    for (let r = 0; r < rows; r++) {
      let o = r * k;
      parts.forEach((p, i) => {
        out.set(p.subarray(r * widths[i]!, (r + 1) * widths[i]!), o);
        o += widths[i]!;
      });
    }
    return out;
  }
}

async function stridedFallback(w: LayerWeights, t: string, a: number, b: number, rows: number, cols: number): Promise<Uint8Array> {
  const info = w.ckpt.source.info(t),
    es = DTYPE_SIZE[info.dtype];
  const all = await w.ckpt.source.readBytes(t);
  const out = new Uint8Array(rows * (b - a) * es); // [rows, b − a] stored
  copyColumns(all, out, rows, cols, a, b - a, es);
  return out;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Writes slice data ([k, cols] for axis 0, [rows, k] for axis 1) at ref `d` of a dense [rows, cols] array. */
function writeSlice(dst: Float32Array, shape: readonly number[], d: SliceRef, data: Float32Array, file: string): void {
  const cols = shape.length === 2 ? shape[1]! : 1,
    rows = shape[0]!;
  const di = flatIndices(d);
  const k = di.length;
  if (data.length !== k * (d.axis === 0 ? cols : rows))
    throw new EvalError(
      "mismatch",
      `${file}: a root slice of ${data.length} values does not fit "${d.tensor}"'s ${k} ${d.axis === 0 ? "rows" : "columns"}; the plan does not fit the model`,
    );
  if (d.axis === 0) {
    for (let j = 0; j < k; j++) dst.set(data.subarray(j * cols, (j + 1) * cols), di[j]! * cols);
  } else {
    for (let r = 0; r < rows; r++) for (let j = 0; j < k; j++) dst[r * cols + di[j]!] = data[r * k + j]!;
  }
}

/** The values at ref `d` of a dense [rows, cols] array, in writeSlice's order ([k, cols] or [rows, k]). */
function sliceValues(src: Float32Array, shape: readonly number[], d: SliceRef): Float32Array {
  const cols = shape.length === 2 ? shape[1]! : 1,
    rows = shape[0]!;
  const di = flatIndices(d);
  const k = di.length;
  const out = new Float32Array(k * (d.axis === 0 ? cols : rows)); // [k, cols] or [rows, k] f32
  if (d.axis === 0) for (let j = 0; j < k; j++) out.set(src.subarray(di[j]! * cols, (di[j]! + 1) * cols), j * cols);
  else for (let r = 0; r < rows; r++) for (let j = 0; j < k; j++) out[r * k + j] = src[r * cols + di[j]!]!;
  return out;
}

/** [rows, k] stored values (F32, F16 or BF16) widened into columns [a, a + k) of a dense [rows, cols] float32 array. */
function widenColumns(bytes: Uint8Array, dtype: "F32" | "F16" | "BF16", dst: Float32Array, rows: number, cols: number, a: number, k: number): void {
  if (dtype === "F32") {
    const src = new Float32Array(bytes.buffer, bytes.byteOffset, rows * k); // kept bytes start 4-aligned (own buffer)
    for (let r = 0; r < rows; r++) dst.set(src.subarray(r * k, (r + 1) * k), r * cols + a);
    return;
  }
  const src = new Uint16Array(bytes.buffer, bytes.byteOffset, rows * k); // [rows, k] u16
  if (dtype === "BF16") {
    const out = new Uint32Array(dst.buffer, dst.byteOffset, dst.length); // the float32 bits
    for (let r = 0; r < rows; r++) {
      const o = r * cols + a,
        i = r * k;
      for (let j = 0; j < k; j++) out[o + j] = src[i + j]! << 16;
    }
    return;
  }
  const row = new Float32Array(k);
  for (let r = 0; r < rows; r++) {
    widenInto(new Uint8Array(bytes.buffer, bytes.byteOffset + r * k * 2, k * 2), "F16", row);
    dst.set(row, r * cols + a);
  }
}

/**
 * Columns [a, a + k) of a stored [rows, cols] tensor (`es` bytes a value) into `out` ([rows, k]):
 * one element loop over 16- or 32-bit lanes where the bytes are aligned for them (no view per row).
 */
function copyColumns(src: Uint8Array, out: Uint8Array, rows: number, cols: number, a: number, k: number, es: number): void {
  const lanes = es === 2 || es === 4 ? es : 0;
  if (lanes === 0 || src.byteOffset % lanes !== 0) {
    for (let r = 0; r < rows; r++) out.set(src.subarray((r * cols + a) * es, (r * cols + a + k) * es), r * k * es);
    return;
  }
  const from = lanes === 2 ? new Uint16Array(src.buffer, src.byteOffset, rows * cols) : new Uint32Array(src.buffer, src.byteOffset, rows * cols),
    to = lanes === 2 ? new Uint16Array(out.buffer, out.byteOffset, rows * k) : new Uint32Array(out.buffer, out.byteOffset, rows * k);
  for (let r = 0; r < rows; r++) {
    const i = r * cols + a,
      o = r * k;
    for (let j = 0; j < k; j++) to[o + j] = from[i + j]!;
  }
}
