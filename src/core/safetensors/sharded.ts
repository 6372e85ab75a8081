/**
 * Sharded checkpoints: `model.safetensors.index.json` = {"metadata": {...}, "weight_map": {tensor: shard}}.
 * Opens every shard named by the index (shard names must be plain file names in the index's
 * folder: no path separators, no `..`, and the file must exist) and presents them as one
 * TensorSource. Also writes a checkpoint split into shards with its index.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { DTYPE_SIZE, numel } from "./dtype";
import { assertInsideFolder } from "./contained";
import { SafetensorsError } from "./errors";
import { fileKey, isOpenForReading } from "./openFiles";
import { openSafetensors } from "./reader";
import type { TensorInfo, TensorSource, TensorToWrite } from "./types";
import { writeSafetensors, writeTextAtomic, type WriteOptions } from "./writer";

export const INDEX_SUFFIX = ".safetensors.index.json";
/** Index files are read whole; real ones are ~100 KB. A larger file is refused before it is read. */
const MAX_INDEX_BYTES = 64 * 2 ** 20;

interface ParsedIndex {
  readonly weightMap: ReadonlyMap<string, string>;
  readonly shards: readonly string[];
}

/** Reads and validates an index json (no shard is opened). */
export async function readIndex(indexPath: string): Promise<ParsedIndex> {
  const abs = path.resolve(indexPath);
  let text: string;
  try {
    const st = await fs.stat(abs);
    if (!st.isFile())
      throw new SafetensorsError("bad-index", abs, "is not a regular file (a folder, FIFO or device); pass the index json of a sharded checkpoint");
    const size = st.size;
    if (size > MAX_INDEX_BYTES) {
      throw new SafetensorsError(
        "bad-index",
        abs,
        `is ${size} bytes; a safetensors index is a small JSON file (at most ${MAX_INDEX_BYTES} bytes here), so this is not one`,
      );
    }
    text = await fs.readFile(abs, "utf8");
  } catch (e) {
    if (e instanceof SafetensorsError) throw e;
    throw new SafetensorsError("io", abs, `cannot read the index (${e instanceof Error ? e.message : String(e)})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError("bad-index", abs, `is not valid JSON (${e instanceof Error ? e.message : String(e)}); re-export the checkpoint`);
  }
  const wm = typeof parsed === "object" && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>).weight_map : undefined;
  if (typeof wm !== "object" || wm === null || Array.isArray(wm)) {
    throw new SafetensorsError("bad-index", abs, `has no "weight_map" object mapping tensor names to shard files; it is not a safetensors index`);
  }
  const weightMap = new Map<string, string>();
  const shards: string[] = [];
  for (const [name, shard] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof shard !== "string" || shard.length === 0) {
      throw new SafetensorsError("bad-index", abs, `weight_map["${name}"] is ${JSON.stringify(shard)}, not a shard file name`);
    }
    if (shard.includes("/") || shard.includes("\\") || shard === "." || shard === ".." || shard.includes("..") || path.isAbsolute(shard)) {
      throw new SafetensorsError(
        "shard-outside-folder",
        abs,
        `weight_map["${name}"] names shard "${shard}", which is not a plain file name in the index's folder; shards must sit beside the index`,
      );
    }
    weightMap.set(name, shard);
    if (!shards.includes(shard)) shards.push(shard);
  }
  if (weightMap.size === 0) throw new SafetensorsError("bad-index", abs, "weight_map is empty; the index lists no tensors");
  const dir = path.dirname(abs);
  for (const s of shards) {
    await assertInsideFolder(dir, path.join(dir, s), `shard "${s}" named in ${path.basename(abs)}`);
    try {
      const st = await fs.stat(path.join(dir, s));
      if (!st.isFile()) throw new Error("not a regular file");
    } catch {
      throw new SafetensorsError("missing-shard", abs, `shard "${s}" named in weight_map does not exist in ${dir}; download or copy it there`);
    }
  }
  return { weightMap, shards };
}

class ShardedSource implements TensorSource {
  private readonly owner = new Map<string, TensorSource>();
  readonly tensors: readonly TensorInfo[];
  readonly metadata: Readonly<Record<string, string>>;
  constructor(
    readonly path: string,
    private readonly parts: readonly TensorSource[],
  ) {
    const tensors: TensorInfo[] = [];
    const metadata: Record<string, string> = {};
    for (const p of [...parts].reverse()) Object.assign(metadata, p.metadata); // first shard wins
    for (const p of parts) {
      for (const t of p.tensors) {
        const prev = this.owner.get(t.name);
        if (prev) throw new SafetensorsError("duplicate-tensor", this.path, `tensor "${t.name}" is in both ${prev.path} and ${p.path}; remove one copy`);
        this.owner.set(t.name, p);
        tensors.push(t);
      }
    }
    this.tensors = tensors;
    this.metadata = metadata;
  }
  get bytesRead(): number {
    return this.parts.reduce((s, p) => s + p.bytesRead, 0);
  }
  has(name: string): boolean {
    return this.owner.has(name);
  }
  private part(name: string): TensorSource {
    const p = this.owner.get(name);
    if (!p) throw new SafetensorsError("missing-tensor", this.path, `no tensor named "${name}" in any shard of this checkpoint`);
    return p;
  }
  info(name: string): TensorInfo {
    return this.part(name).info(name);
  }
  readBytes(name: string, b?: number, e?: number): Promise<Uint8Array> {
    return this.part(name).readBytes(name, b, e);
  }
  async readBytesInto(name: string, out: Uint8Array, byteBegin = 0): Promise<void> {
    const p = this.part(name);
    if (p.readBytesInto) return p.readBytesInto(name, out, byteBegin);
    out.set(await p.readBytes(name, byteBegin, byteBegin + out.byteLength));
  }
  async readBytesDirect(name: string, region: Uint8Array, byteBegin?: number, byteEnd?: number): Promise<Uint8Array | undefined> {
    const p = this.part(name);
    return p.readBytesDirect?.(name, region, byteBegin, byteEnd);
  }
  readRowsF32(name: string, r0: number, r1: number): Promise<Float32Array> {
    return this.part(name).readRowsF32(name, r0, r1);
  }
  readF32(name: string): Promise<Float32Array> {
    return this.part(name).readF32(name);
  }
  async readStridedBytes(name: string, b: number, chunk: number, stride: number, count: number): Promise<Uint8Array> {
    const p = this.part(name);
    if (p.readStridedBytes) return p.readStridedBytes(name, b, chunk, stride, count);
    const out = new Uint8Array(chunk * count); // [count, chunk] bytes
    for (let i = 0; i < count; i++) out.set(await p.readBytes(name, b + i * stride, b + i * stride + chunk), i * chunk);
    return out;
  }
  async close(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.close()));
  }
}

/** Opens a sharded checkpoint from its index json. */
export async function openShardedSafetensors(indexPath: string): Promise<TensorSource> {
  const abs = path.resolve(indexPath);
  const { weightMap, shards } = await readIndex(abs);
  const dir = path.dirname(abs);
  const parts: TensorSource[] = [];
  try {
    for (const s of shards) parts.push(await openSafetensors(path.join(dir, s)));
    const src = new ShardedSource(abs, parts);
    for (const [name, shard] of weightMap) {
      const info = src.has(name) ? src.info(name) : undefined;
      if (!info || path.basename(info.file) !== shard) {
        throw new SafetensorsError(
          "shard-mismatch",
          abs,
          `weight_map says tensor "${name}" is in "${shard}", but ${info ? `it is in "${path.basename(info.file)}"` : "no shard holds it"}; the index does not match the shards`,
        );
      }
    }
    // An index that leaves out tensors its shards hold is refused: tools that load by the index would
    // silently drop them, and outputs written from it would lack them.
    const unlisted = src.tensors.filter((t) => !weightMap.has(t.name));
    if (unlisted.length) {
      const names = unlisted
        .slice(0, 10)
        .map((t) => `"${t.name}" (in ${path.basename(t.file)})`)
        .join(", ");
      throw new SafetensorsError(
        "index-incomplete",
        abs,
        `weight_map does not list ${unlisted.length} tensor${unlisted.length === 1 ? "" : "s"} that its shards hold: ${names}${unlisted.length > 10 ? `, and ${unlisted.length - 10} more` : ""}; regenerate the index from the shards (or re-download it)`,
      );
    }
    return src;
  } catch (e) {
    await Promise.all(parts.map((p) => p.close().catch(() => undefined)));
    throw e;
  }
}

/** Opens a `.safetensors` file or a `*.safetensors.index.json`. */
export async function openTensorSource(file: string): Promise<TensorSource> {
  return file.endsWith(INDEX_SUFFIX) || file.endsWith(".index.json") ? openShardedSafetensors(file) : openSafetensors(file);
}

export interface ShardedWriteResult {
  readonly indexPath: string;
  readonly shards: readonly string[];
  readonly totalSize: number;
}

/**
 * Writes `tensors` split into `shardCount` shards of roughly equal bytes (tensor order kept),
 * named `<base>-0000i-of-0000n.safetensors`, then `<base>.safetensors.index.json`
 * ({"metadata":{"total_size"}, "weight_map"}). `metadata` goes into every shard's header.
 */
export async function writeShardedSafetensors(
  dir: string,
  tensors: readonly TensorToWrite[],
  shardCount: number,
  metadata?: Readonly<Record<string, string>>,
  options: WriteOptions & { readonly base?: string } = {},
): Promise<ShardedWriteResult> {
  const base = options.base ?? "model";
  const indexPath = path.resolve(dir, `${base}${INDEX_SUFFIX}`);
  if (!Number.isSafeInteger(shardCount) || shardCount < 1 || shardCount > tensors.length) {
    throw new SafetensorsError("bad-index", indexPath, `cannot split ${tensors.length} tensors into ${shardCount} shards; use 1..${tensors.length}`);
  }
  const sizes = tensors.map((t) => numel(t.shape) * DTYPE_SIZE[t.dtype]);
  const total = sizes.reduce((a, b) => a + b, 0);
  // Greedy split by cumulative bytes; every shard gets at least one tensor.
  const groups: TensorToWrite[][] = Array.from({ length: shardCount }, () => []);
  let acc = 0;
  for (let i = 0; i < tensors.length; i++) {
    const left = tensors.length - i;
    let g = Math.min(shardCount - 1, Math.floor((acc / Math.max(total, 1)) * shardCount));
    // Keep enough tensors for the remaining shards, and never skip a shard.
    const firstEmpty = groups.findIndex((x) => x.length === 0);
    if (firstEmpty >= 0 && shardCount - firstEmpty >= left) g = firstEmpty;
    if (firstEmpty >= 0 && g > firstEmpty) g = firstEmpty;
    groups[g]!.push(tensors[i]!);
    acc += sizes[i]!;
  }
  const names = groups.map((_, i) => `${base}-${String(i + 1).padStart(5, "0")}-of-${String(shardCount).padStart(5, "0")}.safetensors`);
  const weightMap: Record<string, string> = {};
  await removeOldIndex(indexPath, options.protect ?? []);
  const written: string[] = [];
  try {
    for (let i = 0; i < groups.length; i++) {
      await writeSafetensors(path.join(dir, names[i]!), groups[i]!, metadata, options);
      written.push(path.join(dir, names[i]!));
      for (const t of groups[i]!) weightMap[t.name] = names[i]!;
    }
    await writeTextAtomic(indexPath, JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + "\n");
  } catch (e) {
    // No orphan shards without their index (e.g. the disk filled up at shard 2).
    await Promise.all(written.map((p) => fs.rm(p, { force: true }).catch(() => undefined)));
    throw e;
  }
  return { indexPath, shards: names, totalSize: total };
}

/**
 * Before shards are replaced, an existing index at the output path goes first: otherwise a crash
 * half-way would leave the old index naming a mix of new and old shards, which opens without
 * error but holds mixed weights. Without an index the half-written folder is visibly incomplete.
 * Refuses (overwrite-input) when that index is an input of this run (protected, or naming a shard
 * this process has open).
 */
async function removeOldIndex(indexPath: string, protect: readonly string[]): Promise<void> {
  let text: string;
  try {
    text = await fs.readFile(indexPath, "utf8");
  } catch {
    return; // none
  }
  const refuse = (): never => {
    throw new SafetensorsError("overwrite-input", indexPath, "is the index of a checkpoint this run reads; write the output to another folder");
  };
  if (protect.some((p) => path.resolve(p) === indexPath)) refuse();
  let shards: string[] = [];
  try {
    const wm = (JSON.parse(text) as { weight_map?: Record<string, unknown> }).weight_map;
    shards = wm && typeof wm === "object" ? [...new Set(Object.values(wm).filter((v): v is string => typeof v === "string"))] : [];
  } catch {
    // not an index we can read: nothing of it can be open
  }
  for (const s of shards) {
    if (s.includes("/") || s.includes("\\") || s.includes("..")) continue;
    try {
      if (isOpenForReading(fileKey(await fs.stat(path.join(path.dirname(indexPath), s))))) refuse();
    } catch (e) {
      if (e instanceof SafetensorsError) throw e;
    }
  }
  await fs.rm(indexPath, { force: true });
}
