/**
 * Writes a `DecoderModel` as `model.onnx`: the weights read from the checkpoint tensor by tensor
 * (float32, or rounded to float16 to nearest-even for an fp16 model), embedded in the ModelProto when the file stays under protobuf's 2 GB limit, else in
 * `model.onnx_data` beside it (ONNX external data, each tensor at a 4 KiB-aligned offset so
 * onnxruntime can map it) with only the graph in model.onnx.
 */
import fs from "node:fs/promises";
import path from "node:path";
import type { Checkpoint } from "../model/checkpoint";
import type { IrTensor } from "../onnx/ir";
import { serializeModel } from "../onnx/serialize";
import { f32ToBytes } from "../safetensors/dtype";
import type { DecoderModel } from "./decoder";
import { ExportError } from "./errors";

/** Above this many weight bytes the weights go to external data (protobuf's limit is 2 GiB). */
export const EMBED_LIMIT_BYTES = 1.8 * 2 ** 30;
const ALIGN = 4096;

export interface OnnxFileOptions {
  /** true: external data always; false: never (fails over the limit); default: over EMBED_LIMIT_BYTES. */
  readonly externalData?: boolean;
  readonly signal?: AbortSignal;
  readonly onProgress?: (done: number, total: number) => void;
}

export interface OnnxFileResult {
  /** Files written, relative to the folder of `file`. */
  readonly files: string[];
  readonly externalData: boolean;
  readonly bytes: number;
}

export async function writeOnnxFile(ckpt: Checkpoint, model: DecoderModel, file: string, opts: OnnxFileOptions = {}): Promise<OnnxFileResult> {
  const weightBytes = model.parameters * (model.dtype === "fp16" ? 2 : 4);
  const external = opts.externalData ?? weightBytes > EMBED_LIMIT_BYTES;
  if (!external && weightBytes > EMBED_LIMIT_BYTES) {
    throw new ExportError(
      "bad-options",
      `${ckpt.weightsPath}: ${weightBytes} bytes of weights do not fit in one ONNX protobuf (2 GiB limit); write them as external data`,
    );
  }
  const byName = new Map(model.weights.map((w) => [w.input, w]));
  const total = model.weights.length;
  let done = 0;
  const tick = (): void => {
    done++;
    opts.onProgress?.(done, total);
  };
  const initializers: IrTensor[] = [];
  const dataName = `${path.basename(file)}_data`;
  let dataBytes = 0;
  const fh = external ? await fs.open(path.join(path.dirname(file), dataName), "wx") : undefined;
  try {
    for (const t of model.graph.initializers) {
      const w = byName.get(t.name);
      if (!w) {
        initializers.push(t);
        continue;
      }
      opts.signal?.throwIfAborted();
      const data = await weightData(ckpt, model, w.tensor); // [w.shape] f32 or f16 row-major
      if (fh) {
        const offset = Math.ceil(dataBytes / ALIGN) * ALIGN;
        await fh.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 0, data.byteLength, offset);
        dataBytes = offset + data.byteLength;
        initializers.push({ ...t, external: { location: dataName, offset, length: data.byteLength } });
      } else initializers.push({ ...t, data });
      tick();
    }
  } finally {
    await fh?.close();
  }
  const bytes = serializeModel({ ...model.graph, initializers }, { docString: "KV-cache decoder exported by headshare" });
  await fs.writeFile(file, bytes, { flag: "wx" });
  return { files: external ? [path.basename(file), dataName] : [path.basename(file)], externalData: external, bytes: bytes.byteLength + dataBytes };
}

/** One checkpoint tensor at the model's dtype; float16 refuses values beyond its range (±65504). */
async function weightData(ckpt: Checkpoint, model: DecoderModel, tensor: string): Promise<Float32Array | Uint16Array> {
  const f32 = await ckpt.source.readF32(tensor); // [shape] f32 row-major
  if (model.dtype === "fp32") return f32;
  const bytes = f32ToBytes(f32, "F16");
  const half = new Uint16Array(bytes.buffer, bytes.byteOffset, f32.length); // [shape] f16 bits row-major
  for (let i = 0; i < half.length; i++) {
    if ((half[i]! & 0x7c00) === 0x7c00 && Number.isFinite(f32[i]!)) {
      throw new ExportError("bad-input", `${ckpt.weightsPath}: tensor ${tensor} holds ${f32[i]}, beyond float16's range (±65504); export it with --dtype fp32`);
    }
  }
  return half;
}
