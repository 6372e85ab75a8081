/**
 * The machine a benchmark ran on, as recorded beside every result (bench/results/*.json): CPU model,
 * logical CPUs and physical cores, the vector extensions the CPU reports, memory, the OS, Node and
 * onnxruntime versions. Read from /proc/cpuinfo where it exists (Linux), else from `os`.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface Machine {
  readonly cpuModel: string;
  /** Logical CPUs the OS schedules on (what onnxruntime's thread pools see). */
  readonly logicalCpus: number;
  /** Distinct (physical id, core id) pairs in /proc/cpuinfo; undefined where not reported. */
  readonly physicalCores: number | undefined;
  /** Nominal MHz of the first CPU as the OS reports it (0 when unknown). */
  readonly mhz: number;
  /** SIMD extensions relevant to the kernels (a subset of the CPU flags, in a fixed order). */
  readonly vectorExtensions: readonly string[];
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly onnxruntime: string;
}

/** CPU flags worth recording, in the order they are printed (x86 flags, then Arm features). */
const VECTOR_FLAGS = [
  "sse4_2",
  "avx",
  "f16c",
  "fma",
  "avx2",
  "avx_vnni",
  "avx512f",
  "avx512dq",
  "avx512bw",
  "avx512vl",
  "avx512_vnni",
  "avx512_bf16",
  "avx512_fp16",
  "amx_tile",
  "amx_bf16",
  "amx_int8",
  "asimd",
  "asimdhp",
  "asimddp",
  "sve",
  "sve2",
  "bf16",
  "i8mm",
];

/** Parses /proc/cpuinfo text: model, physical cores and the vector flags. */
export function parseCpuinfo(text: string): { model?: string; physicalCores?: number; flags: string[] } {
  let model: string | undefined;
  const cores = new Set<string>();
  const flags = new Set<string>();
  let physical = "0";
  for (const block of text.split(/\n\s*\n/)) {
    for (const line of block.split("\n")) {
      const m = /^([^:]+?)\s*:\s*(.*)$/.exec(line);
      if (!m) continue;
      const [, key, value] = m as unknown as [string, string, string];
      if (!model && (key === "model name" || key === "Hardware" || key === "cpu model")) model = value.trim();
      else if (key === "physical id") physical = value.trim();
      else if (key === "core id") cores.add(`${physical}:${value.trim()}`);
      else if (key === "flags" || key === "Features") for (const f of value.trim().split(/\s+/)) flags.add(f);
    }
  }
  return {
    ...(model !== undefined ? { model } : {}),
    ...(cores.size ? { physicalCores: cores.size } : {}),
    flags: VECTOR_FLAGS.filter((f) => flags.has(f)),
  };
}

function onnxruntimeVersion(): string {
  try {
    const pkg = require.resolve("onnxruntime-node/package.json");
    return (JSON.parse(fs.readFileSync(pkg, "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

export function describeMachine(): Machine {
  let info: ReturnType<typeof parseCpuinfo> = { flags: [] };
  try {
    info = parseCpuinfo(fs.readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    /* not Linux */
  }
  const cpus = os.cpus();
  return {
    cpuModel: info.model ?? cpus[0]?.model ?? "unknown",
    logicalCpus: cpus.length,
    physicalCores: info.physicalCores,
    mhz: cpus[0]?.speed ?? 0,
    vectorExtensions: info.flags,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    onnxruntime: onnxruntimeVersion(),
  };
}

/** One line: "AMD EPYC (2 logical CPUs, 1 core), AVX2 FMA F16C, 23.4 GiB, onnxruntime 1.30.0". */
export function machineLine(m: Machine): string {
  const cores = m.physicalCores !== undefined ? `, ${m.physicalCores} physical core${m.physicalCores === 1 ? "" : "s"}` : "";
  const mhz = m.mhz ? ` at ${(m.mhz / 1000).toFixed(2)} GHz` : "";
  const vec = m.vectorExtensions.length ? m.vectorExtensions.join(" ").toUpperCase() : "no vector extensions reported";
  return `${m.cpuModel}${mhz} (${m.logicalCpus} logical CPUs${cores}; ${vec}), ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}, onnxruntime-node ${m.onnxruntime}`;
}

/** The commit the bench ran from, and whether the tree had uncommitted changes. */
export function gitState(root: string): { commit: string; dirty: boolean } {
  try {
    const commit = execFileSync("git", ["rev-parse", "HEAD"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const status = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return { commit, dirty: status.trim().length > 0 };
  } catch {
    return { commit: "unknown", dirty: false };
  }
}

/** The repository root (bench bundles run from out/bench/). */
export function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, "package.json")) && fs.existsSync(path.join(dir, "bench"))) return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
}
