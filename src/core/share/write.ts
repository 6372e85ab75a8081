/**
 * DirectShare outputs (method.md §4).
 *  - dense:   Hugging Face shapes; every target's owned slices (q/k/v rows, o columns, q/k/v bias
 *             slices; for granularity "query-head" only q rows, o columns, q bias) overwritten by
 *             its root's bytes.
 *  - compact: each attention tensor keeps only the stored units' slices; `__metadata__` gets
 *             `headshare.plan` (the plan JSON, scores on a 1e-4 grid: recordedPlan) and `headshare.originalShapes` (dense shapes of the
 *             tensors that shrank) on top of the input's metadata.
 *  - expandCompact(compact) rebuilds the dense checkpoint byte for byte.
 * Every other tensor is copied byte for byte; config/tokenizer files are copied; sharded input
 * gives sharded output (same shard names, index rewritten). A new output folder is staged under a
 * temporary name beside it and renamed when complete; files are written to temporary names and
 * renamed. The input is only ever opened for reading.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { ORIGINAL_SHAPES_METADATA_KEY, PLAN_METADATA_KEY, openCheckpoint, type Checkpoint } from "../model/checkpoint";
import { unitsPerLayer, type Granularity, type ModelSpec, type SliceRef } from "../model/types";
import { unitLayout, type UnitProj } from "../model/units";
import { DTYPE_SIZE } from "../safetensors/dtype";
import { SafetensorsError } from "../safetensors/errors";
import type { TensorInfo, TensorSource, TensorToWrite } from "../safetensors/types";
import { assertInsideFolder } from "../safetensors/contained";
import { copyFileAtomic, OutputError, stageOutputFolder, type StagedFolder, type WaitingPhase } from "../output";
import { writeSafetensors, writeTextAtomic } from "../safetensors/writer";
import { PlanError, ShareError } from "./errors";
import { unitCost } from "./match";
import { parseSharingPlan, recordedPlan } from "./planJson";
import { compactIndex, extractSlice, geometry, keptRanges, mergeRanges, scatterSlice, sizeAfterDrop } from "./slices";
import type { LayerAccounting, ShareResult, SharingPlan } from "./types";

export interface ShareProgress {
  readonly phase: string;
  readonly done: number;
  readonly total: number;
}

export interface WriteSharedOptions extends EmitOptions {
  readonly format: "compact" | "dense";
}

export type ExpandOptions = EmitOptions;

/** Files copied next to the weights (besides config.json). */
const AUX_FILE =
  /^(config\.json|generation_config\.json|tokenizer(_config)?\.json|tokenizer\.model|special_tokens_map\.json|added_tokens\.json|vocab\.(json|txt)|merges\.txt|chat_template\.(json|jinja)|[\w.-]+\.tiktoken)$/;
/** Whole source tensors kept in memory for reading roots' slices. */
const CACHE_BYTES = 256 * 2 ** 20;

/** The projections a unit owns (whose storage sharing drops). */
export function ownedProjections(g: Granularity): readonly UnitProj[] {
  return g === "group" ? ["q", "k", "v", "o", "qBias", "kBias", "vBias"] : ["q", "o", "qBias"];
}

/** Per tensor: the axis and the (merged) index ranges that the plan's targets own. */
type DropMap = Map<string, { axis: 0 | 1; drop: [number, number][] }>;
/** Per tensor: (target slice, root slice) pairs to copy for the dense layout. */
type PairMap = Map<string, { target: SliceRef; root: SliceRef }[]>;

function planMaps(spec: ModelSpec, plan: SharingPlan, where: string): { drops: DropMap; pairs: PairMap } {
  const raw = new Map<string, { axis: 0 | 1; ranges: [number, number][] }>();
  const pairs: PairMap = new Map();
  for (const t of plan.targets) {
    const tl = unitLayout(spec, t.layer, t.unit, plan.granularity);
    const rl = unitLayout(spec, t.rootLayer, t.rootUnit, plan.granularity);
    for (const p of ownedProjections(plan.granularity)) {
      const target = tl[p],
        root = rl[p];
      if (!target || !root) continue;
      const entry = raw.get(target.tensor) ?? { axis: target.axis, ranges: [] };
      if (entry.axis !== target.axis)
        throw new ShareError("bad-plan", `${where}: tensor "${target.tensor}" would be cut along two axes; this layout is not supported`);
      entry.ranges.push(...target.ranges.map(([b, e]) => [b, e] as [number, number]));
      raw.set(target.tensor, entry);
      const list = pairs.get(target.tensor) ?? [];
      list.push({ target, root });
      pairs.set(target.tensor, list);
    }
  }
  const drops: DropMap = new Map();
  for (const [name, { axis, ranges }] of raw) drops.set(name, { axis, drop: mergeRanges(ranges) });
  return { drops, pairs };
}

function checkPlanFits(ckpt: Checkpoint, plan: SharingPlan): void {
  const U = unitsPerLayer(ckpt.spec, plan.granularity);
  if (plan.layers !== ckpt.spec.layers || plan.unitsPerLayer !== U) {
    throw new ShareError(
      "bad-plan",
      `${ckpt.source.path}: the plan is for ${plan.layers} layers × ${plan.unitsPerLayer} units, but this model has ${ckpt.spec.layers} × ${U} (${plan.granularity}); plan from this model's match table`,
    );
  }
}

const numelOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Reads whole source tensors, keeping recent ones (≤ CACHE_BYTES) for roots' slices. */
class TensorCache {
  private readonly map = new Map<string, Uint8Array>();
  private bytes = 0;
  constructor(private readonly source: TensorSource) {}
  async get(name: string): Promise<Uint8Array> {
    const hit = this.map.get(name);
    if (hit) {
      this.map.delete(name);
      this.map.set(name, hit);
      return hit;
    }
    const data = await this.source.readBytes(name);
    if (data.byteLength <= CACHE_BYTES) {
      this.map.set(name, data);
      this.bytes += data.byteLength;
      for (const [k, v] of this.map) {
        if (this.bytes <= CACHE_BYTES) break;
        this.map.delete(k);
        this.bytes -= v.byteLength;
      }
    }
    return data;
  }
}

/**
 * A slice's bytes in stored order: row slices are read directly (only their bytes); column slices
 * come from the whole tensor (cached, since a tensor serves several roots).
 */
async function readSliceBytes(source: TensorSource, cache: TensorCache, ref: SliceRef): Promise<Uint8Array> {
  const info = source.info(ref.tensor);
  const g = geometry(info.shape, DTYPE_SIZE[info.dtype]);
  if (ref.axis === 1) return extractSlice(await cache.get(ref.tensor), g, ref);
  const rowBytes = g.rowElems * g.elem;
  const parts = await Promise.all(ref.ranges.map(([b, e]) => source.readBytes(ref.tensor, b * rowBytes, e * rowBytes)));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0)); // [Σ rows, rowElems] raw bytes
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** The dense bytes of tensor `name` with every target slice replaced by its root's. */
async function denseWithRoots(
  buf: Uint8Array,
  info: TensorInfo,
  denseShape: readonly number[],
  pairs: PairMap,
  rootSlice: (ref: SliceRef) => Promise<Uint8Array>,
): Promise<Uint8Array> {
  const g = geometry(denseShape, DTYPE_SIZE[info.dtype]);
  for (const { target, root } of pairs.get(info.name) ?? []) scatterSlice(buf, g, target, await rootSlice(root));
  return buf;
}

/** Keeps the complement of `drop` along `axis` (dense → compact). */
function removeRanges(buf: Uint8Array, shape: readonly number[], elem: number, axis: 0 | 1, drop: readonly (readonly [number, number])[]): Uint8Array {
  const g = geometry(shape, elem);
  const size = axis === 0 ? g.rows : g.rowElems;
  const kept: SliceRef = { tensor: "", axis, ranges: keptRanges(size, drop) };
  return extractSlice(buf, g, kept);
}

/** Places compact bytes at the kept positions of a zeroed dense tensor (compact → dense). */
function insertKept(compact: Uint8Array, denseShape: readonly number[], elem: number, axis: 0 | 1, drop: readonly (readonly [number, number])[]): Uint8Array {
  const g = geometry(denseShape, elem);
  const size = axis === 0 ? g.rows : g.rowElems;
  const out = new Uint8Array(numelOf(denseShape) * elem); // [denseShape] raw bytes, dropped slices zero until filled
  scatterSlice(out, g, { tensor: "", axis, ranges: keptRanges(size, drop) }, compact);
  return out;
}

interface OutputPlan {
  /** Output weight files (relative names) with their tensors, in source order. */
  readonly files: { name: string; tensors: TensorToWrite[] }[];
  readonly metadata: Record<string, string>;
}

/** Groups a source's tensors by file (shards keep their names). */
function groupByFile(source: TensorSource, weightsPath: string): { file: string; infos: TensorInfo[] }[] {
  const groups: { file: string; infos: TensorInfo[] }[] = [];
  for (const info of source.tensors) {
    let g = groups.find((x) => x.file === info.file);
    if (!g) {
      g = { file: info.file, infos: [] };
      groups.push(g);
    }
    g.infos.push(info);
  }
  if (groups.length === 0) groups.push({ file: weightsPath, infos: [] });
  return groups;
}

const isSharded = (weightsPath: string): boolean => weightsPath.endsWith(".json");

function aborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new ShareError("aborted", "writing the shared checkpoint was cancelled");
}

/** An aux file to copy: its name and the regular file it resolves to (checked before anything is written). */
interface AuxFile {
  readonly name: string;
  readonly from: string;
  readonly bytes: number;
}

/**
 * The config/tokenizer files to copy next to the weights, checked before the first byte is written:
 * a link must stay inside the model folder and lead to a regular file; a FIFO, device or folder
 * under one of these names is refused by name (copying it could hang or copy a device).
 */
async function planAuxFiles(fromDir: string): Promise<AuxFile[]> {
  const files: AuxFile[] = [];
  for (const e of await fs.readdir(fromDir, { withFileTypes: true })) {
    if (!AUX_FILE.test(e.name)) continue;
    const from = path.join(fromDir, e.name);
    if (e.isSymbolicLink()) await assertInsideFolder(fromDir, from, e.name); // the Hugging Face cache's layout
    const st = await fs.stat(from).catch(() => undefined);
    if (!st?.isFile()) {
      throw new ShareError(
        "bad-options",
        `${from}: ${e.name} is ${st ? "not a regular file (a folder, FIFO or device)" : "a broken link"}; replace it with the model's file or remove it, then run again (nothing was written)`,
      );
    }
    files.push({ name: e.name, from, bytes: st.size });
  }
  return files;
}

/** Where and how a checkpoint folder is written (share and expand). */
export interface EmitOptions {
  readonly outDir: string;
  /** Replace an existing output folder (staged and swapped in when complete; the old one is kept on failure). */
  readonly force?: boolean;
  /** Wait for another writer of the folder (ms, or true) instead of refusing. */
  readonly wait?: boolean | number;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: ShareProgress) => void;
  /** Another live writer holds the folder and this one waits (`wait`): default, a progress phase of its own. */
  readonly onWait?: (phase: WaitingPhase) => void;
}

/** OutputError → ShareError with the same code where ShareError has one (the callers' contract). */
function asShareError(e: unknown, out: string): Error {
  if (e instanceof ShareError || e instanceof SafetensorsError) return e;
  if (e instanceof OutputError)
    return new ShareError(e.code === "out-exists" || e.code === "out-is-input" || e.code === "aborted" ? e.code : "write-failed", e.message);
  return new ShareError("write-failed", `writing ${out} failed: ${e instanceof Error ? e.message : String(e)}; the previous output (if any) was kept`);
}

/**
 * Writes the output weight files (+ index when sharded) and aux files into a staging folder beside
 * the target (./output/folder.ts: lock, path rules, free space, all before the first byte), and
 * swaps it in when complete. A failure or cancel leaves a previous output exactly as it was.
 */
async function emit(
  ckpt: Checkpoint,
  o: EmitOptions,
  output: OutputPlan,
  indexName: string | null,
  indexTemplate: Record<string, unknown> | null,
): Promise<{ out: string; files: string[]; fileBytes: number; weightsPath: string }> {
  const out = path.resolve(o.outDir);
  const aux = await planAuxFiles(ckpt.dir);
  let estimate = aux.reduce((n, a) => n + a.bytes, 0);
  for (const f of output.files) for (const t of f.tensors) estimate += numelOf(t.shape) * DTYPE_SIZE[t.dtype];
  aborted(o.signal);
  let staged: StagedFolder;
  try {
    staged = await stageOutputFolder({
      out,
      inputs: [ckpt.dir],
      what: "the shared checkpoint",
      needBytes: estimate,
      ...(o.force !== undefined ? { force: o.force } : {}),
      ...(o.wait !== undefined ? { wait: o.wait } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
      onWait: o.onWait ?? ((phase) => o.onProgress?.({ phase, done: 0, total: 0 })),
    });
  } catch (e) {
    throw asShareError(e, out);
  }
  const dir = staged.stage;
  const written: string[] = [];
  const inputs = [...new Set(ckpt.source.tensors.map((t) => t.file)), ckpt.weightsPath, ckpt.configPath];
  try {
    let fileBytes = 0,
      total = 0;
    const weightMap: Record<string, string> = {};
    for (const f of output.files) {
      aborted(o.signal);
      const r = await writeSafetensors(path.join(dir, f.name), f.tensors, output.metadata, { protect: inputs });
      written.push(f.name);
      fileBytes += r.bytes;
      for (const t of f.tensors) {
        weightMap[t.name] = f.name;
        total += numelOf(t.shape) * DTYPE_SIZE[t.dtype];
      }
    }
    if (indexName) {
      const meta = { ...((indexTemplate?.metadata as Record<string, unknown> | undefined) ?? {}), total_size: total };
      await writeTextAtomic(path.join(dir, indexName), JSON.stringify({ ...(indexTemplate ?? {}), metadata: meta, weight_map: weightMap }, null, 2) + "\n");
      written.push(indexName);
    }
    for (const a of aux) {
      aborted(o.signal);
      await copyFileAtomic(a.from, path.join(dir, a.name));
      written.push(a.name);
    }
    aborted(o.signal);
    await staged.commit();
    return { out, files: written, fileBytes, weightsPath: path.join(out, indexName ?? output.files[0]!.name) };
  } catch (e) {
    await staged.abort();
    const kept = staged.replacing ? "the previous output was kept unchanged" : "nothing was left in the output folder";
    if (o.signal?.aborted) throw new ShareError("aborted", `writing the shared checkpoint was cancelled; ${kept}`);
    if (e instanceof ShareError && e.code === "aborted") throw e;
    if (e instanceof OutputError) throw asShareError(e, out);
    // Messages name the output, not its staging folder (which is gone now).
    const named = (m: string): string => m.split(dir).join(out);
    if (e instanceof ShareError || e instanceof SafetensorsError) throw Object.assign(e, { message: `${named(e.message)} (${kept})` });
    throw new ShareError("write-failed", `writing ${out} failed: ${named(e instanceof Error ? e.message : String(e))}; ${kept}`);
  }
}

async function readIndexTemplate(weightsPath: string): Promise<Record<string, unknown> | null> {
  if (!isSharded(weightsPath)) return null;
  const j = JSON.parse(await fs.readFile(weightsPath, "utf8")) as Record<string, unknown>;
  const { weight_map: _w, ...rest } = j;
  void _w;
  return rest;
}

async function fileSizes(files: readonly string[]): Promise<number> {
  let s = 0;
  for (const f of new Set(files)) s += (await fs.stat(f)).size;
  return s;
}

/** Exact accounting from the dense shapes and the plan. */
function accounting(ckpt: Checkpoint, plan: SharingPlan, denseShape: (i: TensorInfo) => readonly number[]) {
  const { spec, source } = ckpt;
  const cost = unitCost(ckpt, plan.granularity);
  const layerOf = new Map<string, number>();
  spec.layerTensors.forEach((lt, l) => {
    for (const n of [lt.q, lt.k, lt.v, lt.o, lt.qBias, lt.kBias, lt.vBias, lt.oBias, ...Object.values(lt.other)]) if (n) layerOf.set(n, l);
  });
  const perLayerParams = new Array<number>(spec.layers).fill(0),
    perLayerBytes = new Array<number>(spec.layers).fill(0);
  let params = 0,
    bytes = 0,
    gParams = 0,
    gBytes = 0;
  for (const info of source.tensors) {
    const n = numelOf(denseShape(info)),
      b = n * DTYPE_SIZE[info.dtype];
    params += n;
    bytes += b;
    const l = layerOf.get(info.name);
    if (l === undefined) {
      gParams += n;
      gBytes += b;
    } else {
      perLayerParams[l]! += n;
      perLayerBytes[l]! += b;
    }
  }
  const saved = new Array<number>(spec.layers).fill(0);
  for (const t of plan.targets) saved[t.layer]!++;
  const perLayer: LayerAccounting[] = saved.map((s, l) => ({
    layer: l,
    savedUnits: s,
    parametersBefore: perLayerParams[l]!,
    parametersAfter: perLayerParams[l]! - s * cost.params,
    bytesBefore: perLayerBytes[l]!,
    bytesAfter: perLayerBytes[l]! - s * cost.bytes,
  }));
  return { cost, params, bytes, perLayer, globals: { parameters: gParams, bytes: gBytes } };
}

/** Writes a compact or dense DirectShare checkpoint of `ckpt` following `plan`. */
export async function writeShared(ckpt: Checkpoint, plan: SharingPlan, opts: WriteSharedOptions): Promise<ShareResult> {
  const started = performance.now();
  if (!opts || (opts.format !== "compact" && opts.format !== "dense")) {
    throw new ShareError("bad-options", `format must be "compact" or "dense", got ${JSON.stringify(opts?.format)}`);
  }
  if (ckpt.compact)
    throw new ShareError("bad-options", `${ckpt.source.path} is already a compact headshare checkpoint; share the original model (or expand this one first)`);
  let checked: SharingPlan;
  try {
    checked = parseSharingPlan(plan, "the sharing plan");
  } catch (e) {
    throw new ShareError("bad-plan", e instanceof PlanError ? e.message : String(e));
  }
  checkPlanFits(ckpt, checked);
  aborted(opts.signal);
  const { source, spec } = ckpt;
  const { drops, pairs } = planMaps(spec, checked, source.path);
  const cache = new TensorCache(source);
  const rootSlice = (ref: SliceRef): Promise<Uint8Array> => readSliceBytes(source, cache, ref);
  const total = source.tensors.length;
  let done = 0;
  const tick = (): void => {
    done++;
    opts.onProgress?.({ phase: "write", done, total });
  };
  const originalShapes: Record<string, number[]> = {};
  const files = groupByFile(source, ckpt.weightsPath).map(({ file, infos }) => ({
    name: isSharded(ckpt.weightsPath) ? path.basename(file) : path.basename(ckpt.weightsPath),
    tensors: infos.map((info): TensorToWrite => {
      const drop = drops.get(info.name);
      let shape = info.shape;
      if (opts.format === "compact" && drop) {
        const s = [...info.shape];
        if (drop.axis === 0) s[0] = sizeAfterDrop(s[0]!, drop.drop);
        else s[1] = sizeAfterDrop(s[1]!, drop.drop);
        shape = s;
        originalShapes[info.name] = [...info.shape];
      }
      return {
        name: info.name,
        dtype: info.dtype,
        shape,
        data: async () => {
          aborted(opts.signal);
          let out: Uint8Array;
          if (!drop) out = await source.readBytes(info.name);
          else if (opts.format === "compact") out = removeRanges(await source.readBytes(info.name), info.shape, DTYPE_SIZE[info.dtype], drop.axis, drop.drop);
          else out = await denseWithRoots(new Uint8Array(await source.readBytes(info.name)), info, info.shape, pairs, rootSlice);
          tick();
          return out;
        },
      };
    }),
  }));
  const metadata: Record<string, string> = { ...source.metadata };
  if (opts.format === "compact") {
    metadata[PLAN_METADATA_KEY] = JSON.stringify(recordedPlan(checked));
    metadata[ORIGINAL_SHAPES_METADATA_KEY] = JSON.stringify(originalShapes);
  }
  const indexName = isSharded(ckpt.weightsPath) ? path.basename(ckpt.weightsPath) : null;
  const acc = accounting(ckpt, checked, (i) => i.shape);
  const fileBytesBefore = await fileSizes(source.tensors.map((t) => t.file));
  const written = await emit(ckpt, opts, { files, metadata }, indexName, await readIndexTemplate(ckpt.weightsPath));
  return result(opts.format, written, checked, acc, fileBytesBefore, started);
}

function result(
  format: "compact" | "dense",
  w: { out: string; files: string[]; fileBytes: number; weightsPath: string },
  plan: SharingPlan,
  acc: ReturnType<typeof accounting>,
  fileBytesBefore: number,
  started: number,
): ShareResult {
  const N = plan.targets.length;
  const parametersAfter = acc.params - N * acc.cost.params;
  const bytesAfterUnique = acc.bytes - N * acc.cost.bytes;
  return {
    format,
    outDir: w.out,
    weightsPath: w.weightsPath,
    files: w.files,
    ratio: plan.ratio,
    selected: plan.selected,
    savedUnits: N,
    parametersPerUnit: acc.cost.params,
    bytesPerUnit: acc.cost.bytes,
    parametersBefore: acc.params,
    parametersAfter,
    parametersStored: format === "compact" ? parametersAfter : acc.params,
    bytesBefore: acc.bytes,
    bytesAfter: format === "compact" ? bytesAfterUnique : acc.bytes,
    fileBytesBefore,
    fileBytesAfter: w.fileBytes,
    perLayer: acc.perLayer,
    globals: acc.globals,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * A compact checkpoint's plan, checked as expand needs it: valid JSON of a sharing plan, fitting
 * this model's layers × units, and every stored tensor shaped exactly as the dense shape minus the
 * plan's slices. Throws ShareError ("not-compact", "bad-compact", "bad-plan") naming the file.
 */
export function checkCompactPlan(ckpt: Checkpoint): { plan: SharingPlan; drops: DropMap; pairs: PairMap; denseShape: (info: TensorInfo) => readonly number[] } {
  if (!ckpt.compact)
    throw new ShareError("not-compact", `${ckpt.source.path} is not a compact headshare checkpoint (no "${PLAN_METADATA_KEY}" metadata); it is already dense`);
  let plan: SharingPlan;
  try {
    plan = parseSharingPlan(ckpt.compact.plan, `${ckpt.source.path} metadata "${PLAN_METADATA_KEY}"`);
  } catch (e) {
    throw new ShareError("bad-compact", e instanceof Error ? e.message : String(e));
  }
  checkPlanFits(ckpt, plan);
  const { source, spec } = ckpt;
  const { drops, pairs } = planMaps(spec, plan, source.path);
  const shapes = ckpt.compact.originalShapes;
  const denseShape = (info: TensorInfo): readonly number[] => shapes[info.name] ?? info.shape;
  // The stored shapes must be exactly the dense shapes minus the plan's slices.
  for (const info of source.tensors) {
    const d = drops.get(info.name);
    const want = [...denseShape(info)];
    if (d) want[d.axis] = sizeAfterDrop(want[d.axis]!, d.drop);
    if (want.length !== info.shape.length || want.some((v, i) => v !== info.shape[i])) {
      throw new ShareError(
        "bad-compact",
        `${info.file}: tensor "${info.name}" is stored as [${info.shape.join(", ")}] but the plan and original shapes imply [${want.join(", ")}]; the compact checkpoint is damaged`,
      );
    }
  }
  return { plan, drops, pairs, denseShape };
}

/** Rebuilds the dense checkpoint from a compact one (byte-identical to writeShared's dense output). */
export async function expandCompact(compactPathOrDir: string, opts: ExpandOptions): Promise<ShareResult> {
  const started = performance.now();
  if (!opts || typeof opts.outDir !== "string") throw new ShareError("bad-options", "expandCompact needs outDir");
  const ckpt = await openCheckpoint(compactPathOrDir);
  try {
    const { plan, drops, pairs, denseShape } = checkCompactPlan(ckpt);
    const { source } = ckpt;
    const cache = new TensorCache(source);
    const rootSlice = (ref: SliceRef): Promise<Uint8Array> => {
      // Roots are stored: map their dense ranges to the compact tensor's.
      const d = drops.get(ref.tensor);
      const compactRef: SliceRef =
        d && d.axis === ref.axis
          ? {
              ...ref,
              ranges: ref.ranges.map(([b, e]) => {
                const c = compactIndex(b, d.drop);
                return [c, c + (e - b)] as const;
              }),
            }
          : ref;
      return readSliceBytes(source, cache, compactRef);
    };
    const total = source.tensors.length;
    let done = 0;
    const files = groupByFile(source, ckpt.weightsPath).map(({ file, infos }) => ({
      name: isSharded(ckpt.weightsPath) ? path.basename(file) : path.basename(ckpt.weightsPath),
      tensors: infos.map((info): TensorToWrite => ({
        name: info.name,
        dtype: info.dtype,
        shape: denseShape(info),
        data: async () => {
          aborted(opts.signal);
          const d = drops.get(info.name);
          let out = await source.readBytes(info.name);
          if (d)
            out = await denseWithRoots(insertKept(out, denseShape(info), DTYPE_SIZE[info.dtype], d.axis, d.drop), info, denseShape(info), pairs, rootSlice);
          opts.onProgress?.({ phase: "write", done: ++done, total });
          return out;
        },
      })),
    }));
    const metadata: Record<string, string> = { ...source.metadata };
    delete metadata[PLAN_METADATA_KEY];
    delete metadata[ORIGINAL_SHAPES_METADATA_KEY];
    const indexName = isSharded(ckpt.weightsPath) ? path.basename(ckpt.weightsPath) : null;
    const acc = accounting(ckpt, plan, denseShape);
    const fileBytesBefore = await fileSizes(source.tensors.map((t) => t.file));
    const written = await emit(ckpt, opts, { files, metadata }, indexName, await readIndexTemplate(ckpt.weightsPath));
    return result("dense", written, plan, acc, fileBytesBefore, started);
  } finally {
    await ckpt.close();
  }
}
