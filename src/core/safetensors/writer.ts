/**
 * Writes a safetensors file exactly as the reference `safetensors` library lays it out:
 *   u64 LE header length n; compact JSON `{"__metadata__":{...},"name":{"dtype","shape","data_offsets"},...}`
 *   (`__metadata__` first when given, then tensors in the given order), padded with spaces so that
 *   n is a multiple of 8; then the tensors' bytes, contiguous, in the same order.
 * Streams to a temporary file in the target folder and renames it into place on success; the
 * temporary file is removed on failure. Refuses to replace a file this process is reading from.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { cleanStaleTemps, tempPathFor } from "../output";
import { DTYPE_SIZE, isDType, numel } from "./dtype";
import { SafetensorsError } from "./errors";
import { fileKey, isOpenForReading } from "./openFiles";
import type { TensorToWrite } from "./types";

export interface WriteOptions {
  /** Further paths that must not be replaced (e.g. the inputs of a conversion). */
  readonly protect?: readonly string[];
}

export interface WriteResult {
  readonly path: string;
  /** Total bytes of the file. */
  readonly bytes: number;
  /** Bytes of the JSON header including padding (n). */
  readonly headerBytes: number;
}

/** The exact header bytes (length prefix excluded) the reference library writes. */
export function encodeHeader(tensors: readonly Pick<TensorToWrite, "name" | "dtype" | "shape">[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  // Built piecewise (not via one object) so that integer-like tensor names keep the given order.
  const parts: string[] = [];
  if (metadata) parts.push(`"__metadata__":${JSON.stringify({ ...metadata })}`);
  let offset = 0;
  for (const t of tensors) {
    const size = numel(t.shape) * DTYPE_SIZE[t.dtype];
    parts.push(`${JSON.stringify(t.name)}:${JSON.stringify({ dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + size] })}`);
    offset += size;
  }
  const json = Buffer.from(`{${parts.join(",")}}`, "utf8");
  const padded = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(padded).fill(0x20);
  out.set(json, 0);
  return out;
}

function validate(file: string, tensors: readonly TensorToWrite[], metadata?: Readonly<Record<string, string>>): void {
  const seen = new Set<string>();
  for (const t of tensors) {
    if (typeof t.name !== "string" || t.name.length === 0 || t.name === "__metadata__") {
      throw new SafetensorsError("bad-tensor", file, `cannot write a tensor named ${JSON.stringify(t.name)}; names must be non-empty and not "__metadata__"`);
    }
    if (seen.has(t.name)) throw new SafetensorsError("duplicate-tensor", file, `tensor "${t.name}" is given twice; each name may appear once`);
    seen.add(t.name);
    if (!isDType(t.dtype)) throw new SafetensorsError("bad-dtype", file, `tensor "${t.name}": unknown dtype ${JSON.stringify(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
      throw new SafetensorsError("bad-shape", file, `tensor "${t.name}": shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
    }
    if (t.data instanceof Uint8Array) checkSize(file, t, t.data);
  }
  if (metadata) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string")
        throw new SafetensorsError("bad-metadata", file, `metadata "${k}" is ${typeof v}; metadata values must be strings (JSON-encode structured values)`);
    }
  }
}

function checkSize(file: string, t: TensorToWrite, data: Uint8Array): void {
  const want = numel(t.shape) * DTYPE_SIZE[t.dtype];
  if (data.byteLength !== want) {
    throw new SafetensorsError(
      "bad-tensor",
      file,
      `tensor "${t.name}": ${data.byteLength} bytes given, but shape [${t.shape.join(", ")}] × ${t.dtype} needs ${want}`,
    );
  }
}

async function assertNotInput(target: string, protect: readonly string[]): Promise<void> {
  let st;
  try {
    st = await fs.stat(target);
  } catch {
    return; // does not exist yet
  }
  if (isOpenForReading(fileKey(st))) {
    throw new SafetensorsError("overwrite-input", target, "is open for reading as an input of this run; write the output to another path");
  }
  for (const p of protect) {
    try {
      const ps = await fs.stat(p);
      if (ps.dev === st.dev && ps.ino === st.ino) {
        throw new SafetensorsError("overwrite-input", target, `is the input ${p}; write the output to another path`);
      }
    } catch (e) {
      if (e instanceof SafetensorsError) throw e;
    }
  }
}

export { cleanStaleTemps, tempPathFor } from "../output";

/** Writes `tensors` (in the given order) and optional metadata to `file` atomically. */
export async function writeSafetensors(
  file: string,
  tensors: readonly TensorToWrite[],
  metadata?: Readonly<Record<string, string>>,
  options: WriteOptions = {},
): Promise<WriteResult> {
  const target = path.resolve(file);
  validate(target, tensors, metadata);
  await assertNotInput(
    target,
    (options.protect ?? []).map((p) => path.resolve(p)),
  );
  const header = encodeHeader(tensors, metadata);
  await cleanStaleTemps(path.dirname(target));
  const tmp = tempPathFor(target);
  let fh: fs.FileHandle | undefined;
  try {
    try {
      fh = await fs.open(tmp, "wx");
    } catch (e) {
      throw new SafetensorsError(
        "io",
        target,
        `cannot create a temporary file in ${path.dirname(target)} (${e instanceof Error ? e.message : String(e)}); check that the folder exists and is writable`,
      );
    }
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(header.byteLength), true);
    let pos = 0;
    const write = async (b: Uint8Array): Promise<void> => {
      let done = 0;
      while (done < b.byteLength) {
        const { bytesWritten } = await fh!.write(b, done, b.byteLength - done, pos);
        done += bytesWritten;
        pos += bytesWritten;
      }
    };
    await write(prefix);
    await write(header);
    for (const t of tensors) {
      const data = t.data instanceof Uint8Array ? t.data : await t.data();
      if (!(data instanceof Uint8Array)) throw new SafetensorsError("bad-tensor", target, `tensor "${t.name}": its producer returned no Uint8Array`);
      checkSize(target, t, data);
      await write(data);
    }
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fs.rename(tmp, target);
    return { path: target, bytes: pos, headerBytes: header.byteLength };
  } catch (e) {
    if (fh) await fh.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    if (e instanceof SafetensorsError) throw e;
    throw new SafetensorsError("io", target, `writing failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Writes a small text file (JSON, index) atomically beside its target. */
export async function writeTextAtomic(file: string, text: string): Promise<void> {
  const target = path.resolve(file);
  await cleanStaleTemps(path.dirname(target));
  const tmp = tempPathFor(target);
  try {
    await fs.writeFile(tmp, text, { flag: "wx" });
    await fs.rename(tmp, target);
  } catch (e) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw new SafetensorsError("io", target, `writing failed: ${e instanceof Error ? e.message : String(e)}`);
  }
}
