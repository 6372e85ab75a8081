/**
 * llama2.c as the eval bench's same-run scoring baseline. HEADSHARE_LLAMA2C_DIR names a checkout of
 * karpathy/llama2.c (the folder holding run.c; not vendored: it is not an npm or apt package). The
 * bench compiles bench/llama2c-score.c against that run.c, which scores the same text with the same
 * protocol as `headshare eval` end to end (process start, checkpoint and tokenizer read, tokenizing,
 * one token at a time through run.c's forward pass with its KV cache, NLL), and times it in the same
 * run as headshare's own end-to-end scoring. One build: `-O3`, one thread (llama2.c's `make run`);
 * the OpenMP build (`make runomp`) is left out: on a model of width 64 its fork/join per matmul
 * dominates, and on a shared machine its spinning threads made a run minutes long.
 */
import fs from "node:fs";
import path from "node:path";
import { execFileSync, spawnSync } from "node:child_process";
import { summarize, type Summary } from "./stats";

export const LLAMA2C_ENV = "HEADSHARE_LLAMA2C_DIR";

/** Which run.c API bench/llama2c-score.c compiles against (see its header), from run.c's text. */
export function llama2cApi(runC: string): 1 | 2 | undefined {
  if (
    /float\s*\*\s*forward\s*\(\s*Transformer\s*\*/.test(runC) &&
    /void\s+encode\s*\(\s*Tokenizer\s*\*/.test(runC) &&
    /void\s+build_transformer\s*\(/.test(runC)
  )
    return 2;
  if (
    /void\s+transformer\s*\(\s*int\s+token\s*,\s*int\s+pos\s*,\s*Config\s*\*/.test(runC) &&
    /void\s+bpe_encode\s*\(/.test(runC) &&
    /checkpoint_init_weights\s*\(/.test(runC)
  )
    return 1;
  return undefined;
}

/** The run.c of the checkout HEADSHARE_LLAMA2C_DIR names, checked; throws an error that says what to fix. */
export function llama2cSource(dir: string): { runC: string; api: 1 | 2 } {
  const fix = `set ${LLAMA2C_ENV} to a checkout of https://github.com/karpathy/llama2.c (the folder that holds run.c), or unset it to skip the llama2.c baseline`;
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`${LLAMA2C_ENV}=${dir}: no such folder; ${fix}`);
  const runC = path.join(dir, "run.c");
  if (!fs.existsSync(runC)) throw new Error(`${LLAMA2C_ENV}=${dir}: there is no run.c in it; ${fix}`);
  const api = llama2cApi(fs.readFileSync(runC, "utf8"));
  if (!api)
    throw new Error(
      `${runC}: not a run.c this bench knows (it looks for transformer(token, pos, Config*, …) with bpe_encode, or build_transformer/forward/encode); ${fix}`,
    );
  return { runC, api };
}

export interface Llama2cBuild {
  readonly label: string;
  readonly exe: string;
  readonly threads: number;
  readonly command: string;
}

/** Compiles bench/llama2c-score.c against the checkout's run.c into cacheDir with `-O3` (one thread). */
export function buildLlama2cScorer(dir: string, driver: string, cacheDir: string): { api: 1 | 2; build: Llama2cBuild } {
  const { api } = llama2cSource(dir);
  if (!fs.existsSync(driver)) throw new Error(`${driver} is missing (it is part of the repository: git checkout bench/llama2c-score.c)`);
  fs.mkdirSync(cacheDir, { recursive: true });
  const exe = path.join(cacheDir, "llama2c-score");
  const args = ["-O3", `-DHEADSHARE_L2C_API=${api}`, "-DTESTING", "-I", dir, "-o", exe, driver, "-lm"];
  const r = spawnSync("gcc", args, { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : r.stderr.trim().split("\n").slice(-5).join(" / ");
    throw new Error(
      `compiling llama2.c's run.c with bench/llama2c-score.c failed (gcc ${args.join(" ")}): ${why}; is gcc installed, and is ${dir} an unmodified llama2.c checkout?`,
    );
  }
  return {
    api,
    build: {
      label: "-O3, 1 thread (llama2.c's `make run`)",
      exe,
      threads: 1,
      command: `gcc -O3 -DHEADSHARE_L2C_API=${api} -I $${LLAMA2C_ENV} bench/llama2c-score.c -lm`,
    },
  };
}

export interface Llama2cRun {
  readonly documents: number;
  readonly tokens: number;
  readonly nll: number;
  /** Wall seconds of the whole process, timed by the bench. */
  readonly seconds: number;
}

/** Runs one build once on the text: what it printed, and the process's wall time. */
export function runLlama2cScorer(b: Llama2cBuild, model: string, tokenizer: string, text: string, separator: string, window: number): Llama2cRun {
  const t = performance.now();
  const out = execFileSync(b.exe, [model, tokenizer, text, separator, String(window)], {
    encoding: "utf8",
    env: { ...process.env, OMP_NUM_THREADS: String(b.threads) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const seconds = (performance.now() - t) / 1000;
  const r = JSON.parse(out.trim().split("\n").at(-1)!) as { documents: number; tokens: number; nll: number };
  return { documents: r.documents, tokens: r.tokens, nll: r.nll, seconds };
}

/** `warmup` untimed runs, then `n` timed ones (each must print the same tokens and NLL). */
export function sampleLlama2cScorer(
  b: Llama2cBuild,
  n: number,
  warmup: number,
  run: () => Llama2cRun,
): { documents: number; tokens: number; nll: number; seconds: Summary } {
  let first: Llama2cRun | undefined;
  const secs: number[] = [];
  for (let i = 0; i < warmup + n; i++) {
    const r = run();
    first ??= r;
    if (r.tokens !== first.tokens || r.nll !== first.nll)
      throw new Error(`llama2.c scorer (${b.label}) is not deterministic: ${JSON.stringify(r)} vs ${JSON.stringify(first)}`);
    if (i >= warmup) secs.push(r.seconds);
  }
  return { documents: first!.documents, tokens: first!.tokens, nll: first!.nll, seconds: summarize(secs) };
}
