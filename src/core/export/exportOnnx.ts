/**
 * `exportOnnx(model, { outDir, ratio | plan })`: a model folder that transformers.js and Optimum's
 * `ORTModelForCausalLM` load offline —
 *
 *   DIR/onnx/model.onnx (+ model.onnx_data over 2 GB)   the KV-cache decoder (decoder.ts); fp16: onnx/model_fp16.onnx
 *   DIR/config.json                                      the model's, with use_cache (and transformers.js_config for external data)
 *   DIR/generation_config.json                           the model's, else bos/eos from config.json
 *   DIR/tokenizer.json, tokenizer_config.json, …         copied (GPT-2 vocab.json + merges.txt also get the equivalent tokenizer.json)
 *   DIR/headshare_export.json                            what was exported: plan, parameters, dtype
 *
 * A shared model is exported compact: a dense checkpoint with a plan is first written as the compact
 * checkpoint (`writeShared`, inside the staging folder, removed after), a compact checkpoint with its
 * own plan. DIR must not exist; it is staged like every output (src/core/output: the folder's writer
 * lock, `wait` for another writer, free space, a staging folder beside it renamed in at the end), so a
 * failure or cancel leaves nothing behind. The input is only read.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { openCheckpoint, type Checkpoint } from "../model/checkpoint";
import { gpt2TokenizerJson } from "../eval/tokenizer";
import { modelSize } from "../eval/sizes";
import { stageOutputFolder, type StagedFolder } from "../output";
import { writeShared } from "../share/write";
import { decoderModel } from "./decoder";
import { ExportError } from "./errors";
import { writeOnnxFile } from "./onnxFile";
import { resolvePlan, type PlanChoice } from "./plan";
import type { ExportDtype, ExportResult } from "./results";

export interface ExportOptions extends PlanChoice {
  readonly outDir: string;
  readonly dtype?: ExportDtype;
  /** Force external data (default: only when the weights exceed what one protobuf holds). */
  readonly externalData?: boolean;
  /** fp16: elements per float32 piece of a weight read (default CAST_CHUNK_ELEMENTS; for tests). */
  readonly castChunkElements?: number;
  /** Another writer holds DIR's lock: wait for it (true, or at most this many ms) instead of refusing. */
  readonly wait?: boolean | number;
}

export type { ExportDtype, ExportResult };

/** Files besides the weights that the exported folder takes from the model's folder. */
/** The decoder's file name per dtype: transformers.js' names (`dtype: "fp16"` loads `model_fp16.onnx`). */
export const ONNX_FILE: Readonly<Record<ExportDtype, string>> = { fp32: "model.onnx", fp16: "model_fp16.onnx" };

const COPIED =
  /^(generation_config\.json|tokenizer(_config)?\.json|tokenizer\.model|special_tokens_map\.json|added_tokens\.json|vocab\.(json|txt)|merges\.txt|chat_template\.(json|jinja))$/;

export async function exportOnnx(input: string, opts: ExportOptions): Promise<ExportResult> {
  const t0 = performance.now();
  const dtype = opts.dtype ?? "fp32";
  if (dtype !== "fp32" && dtype !== "fp16") throw new ExportError("bad-options", `--dtype ${String(dtype)}: choose fp32 or fp16`);
  if (opts.ratio !== undefined && opts.plan) throw new ExportError("bad-options", "give a ratio or a plan, not both");
  const out = path.resolve(opts.outDir);
  if (await exists(out)) throw new ExportError("bad-input", `${out} already exists; the export writes a new folder (remove it or choose another name)`);
  const parent = path.dirname(out);
  if (!(await exists(parent))) throw new ExportError("bad-input", `${out}: its parent folder ${parent} does not exist; create it first`);
  const ckpt = await openCheckpoint(input);
  let compact: Checkpoint | undefined;
  let stagedFolder: StagedFolder | undefined;
  try {
    const { plan, matchProvider } = await resolvePlan(ckpt, opts);
    const size = modelSize(ckpt);
    const sharedCopy = plan && !ckpt.compact && plan.selected > 0 ? size.bytes : 0;
    stagedFolder = await stageOutputFolder({
      out,
      inputs: [ckpt.dir],
      what: "the ONNX export",
      // the decoder's weights (at most the dense count) and, for a shared export, the compact checkpoint written first
      needBytes: size.parameters * (dtype === "fp16" ? 2 : 4) + sharedCopy,
      ...(opts.wait !== undefined ? { wait: opts.wait } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      onWait: (phase) => opts.onProgress?.({ phase, done: 0, total: 0 }),
    });
    const staged = stagedFolder.stage;
    let source = ckpt;
    if (plan && !ckpt.compact && plan.selected > 0) {
      opts.onProgress?.({ phase: "compact", done: 0, total: 1 });
      await writeShared(ckpt, plan, { format: "compact", outDir: path.join(staged, "compact"), ...(opts.signal ? { signal: opts.signal } : {}) });
      compact = await openCheckpoint(path.join(staged, "compact"));
      source = compact;
    }
    const model = decoderModel(source, dtype, opts.castChunkElements);
    await fs.mkdir(path.join(staged, "onnx"));
    const onnx = await writeOnnxFile(source, model, path.join(staged, "onnx", ONNX_FILE[dtype]), {
      ...(opts.externalData !== undefined ? { externalData: opts.externalData } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
      onProgress: (done, total) => opts.onProgress?.({ phase: "weights", done, total }),
    });
    if (compact) {
      await compact.close();
      compact = undefined;
      await fs.rm(path.join(staged, "compact"), { recursive: true, force: true });
    }
    const files = [...onnx.files.map((f) => `onnx/${f}`), ...(await writeSideFiles(ckpt, staged, onnx.externalData, dtype))];
    const parametersDense = ckpt.compact ? denseParameters(ckpt) : ckpt.source.tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0);
    const result: ExportResult = {
      outDir: out,
      files: [...files, "headshare_export.json"].sort(),
      family: ckpt.spec.family,
      architecture: ckpt.spec.architecture,
      dtype,
      externalData: onnx.externalData,
      ...(plan && plan.selected > 0 ? { plan } : {}),
      parameters: model.parameters,
      parametersDense,
      bytes: onnx.bytes,
      ...(matchProvider ? { matchProvider } : {}),
      seconds: (performance.now() - t0) / 1000,
    };
    await fs.writeFile(
      path.join(staged, "headshare_export.json"),
      `${JSON.stringify(
        {
          format: "headshare.export",
          version: 1,
          source: path.basename(ckpt.dir),
          family: result.family,
          architecture: result.architecture,
          dtype,
          parameters: result.parameters,
          parametersDense,
          externalData: onnx.externalData,
          plan: result.plan ?? null,
        },
        null,
        2,
      )}\n`,
    );
    opts.signal?.throwIfAborted();
    await stagedFolder.commit();
    return { ...result, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    if (compact) await compact.close().catch(() => undefined);
    await stagedFolder?.abort();
    if (opts.signal?.aborted) throw new ExportError("cancelled", "export cancelled; nothing was written");
    throw e;
  } finally {
    await ckpt.close();
  }
}

/**
 * config.json, generation_config.json and the tokenizer files; returns their names. An fp16 export
 * sets transformers.js' default dtype to fp16 (it then loads onnx/model_fp16.onnx without being told).
 */
async function writeSideFiles(ckpt: Checkpoint, dir: string, externalData: boolean, dtype: ExportDtype): Promise<string[]> {
  const config = { ...ckpt.spec.config, use_cache: true } as Record<string, unknown>;
  if (externalData || dtype === "fp16") {
    const tjs = (config["transformers.js_config"] ?? {}) as Record<string, unknown>;
    config["transformers.js_config"] = { ...tjs, ...(externalData ? { use_external_data_format: true } : {}), ...(dtype === "fp16" ? { dtype: "fp16" } : {}) };
  }
  await fs.writeFile(path.join(dir, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
  const written = ["config.json"];
  for (const e of await fs.readdir(ckpt.dir, { withFileTypes: true })) {
    if (!e.isFile() || !COPIED.test(e.name)) continue;
    await fs.copyFile(path.join(ckpt.dir, e.name), path.join(dir, e.name));
    written.push(e.name);
  }
  if (!written.includes("generation_config.json")) {
    const g: Record<string, unknown> = { _from_model_config: true };
    for (const k of ["bos_token_id", "eos_token_id", "pad_token_id"]) if (config[k] !== undefined && config[k] !== null) g[k] = config[k];
    await fs.writeFile(path.join(dir, "generation_config.json"), `${JSON.stringify(g, null, 2)}\n`);
    written.push("generation_config.json");
  }
  if (!written.includes("tokenizer.json") && written.includes("vocab.json") && written.includes("merges.txt")) {
    await fs.writeFile(path.join(dir, "tokenizer.json"), JSON.stringify(await gpt2TokenizerJson(ckpt.dir)));
    written.push("tokenizer.json");
  }
  return written;
}

function denseParameters(ckpt: Checkpoint): number {
  const shapes = ckpt.compact?.originalShapes ?? {};
  return ckpt.source.tensors.reduce((a, t) => a + (shapes[t.name] ?? t.shape).reduce((x, y) => x * y, 1), 0);
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}
