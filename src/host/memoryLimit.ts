/**
 * Why a worker died of SIGKILL that nobody asked for: usually the kernel's OOM killer (a cgroup
 * memory limit: a container, systemd's MemoryMax, a cluster job). Reads the limit and the OOM-kill
 * counter of this process's memory cgroup (v2: memory.max / memory.events; v1:
 * memory.limit_in_bytes / memory.oom_control) and words the report: "out of memory", the limit,
 * and the model's estimated need. Runs where the worker client runs (extension host, CLI).
 */
import fs from "node:fs";
import path from "node:path";

export interface CgroupMemory {
  /** Bytes; undefined when unlimited or unknown. */
  readonly limit?: number;
  /** OOM kills so far in the cgroup (undefined when the kernel does not say). */
  readonly oomKills?: number;
  /** The file the limit came from. */
  readonly source?: string;
}

const read = (f: string): string | undefined => {
  try {
    return fs.readFileSync(f, "utf8");
  } catch {
    return undefined;
  }
};
const field = (text: string | undefined, key: string): number | undefined => {
  const m = text && new RegExp(`^${key} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
};
/** Limits at or above 2^60 are "no limit" (v1 writes 2^63 − page size). */
const limitOf = (s: string | undefined): number | undefined => {
  const t = s?.trim();
  if (!t || t === "max") return undefined;
  const n = Number(t);
  return Number.isFinite(n) && n < 2 ** 60 ? n : undefined;
};

/** This process's memory cgroup facts; `root` is where cgroupfs is mounted (tests pass a fake tree). */
export function cgroupMemory(root = "/sys/fs/cgroup", procCgroup = "/proc/self/cgroup"): CgroupMemory {
  const lines = (read(procCgroup) ?? "").split("\n");
  const v2 = lines
    .find((l) => l.startsWith("0::"))
    ?.slice(3)
    .trim();
  // v2: the process's own cgroup folder, else the namespace's root (a container sees its cgroup as "/").
  for (const dir of [v2 ? path.join(root, v2) : undefined, root]) {
    if (!dir) continue;
    const max = read(path.join(dir, "memory.max"));
    if (max === undefined) continue;
    const limit = limitOf(max);
    const oomKills = field(read(path.join(dir, "memory.events")), "oom_kill");
    return { ...(limit !== undefined ? { limit, source: path.join(dir, "memory.max") } : {}), ...(oomKills !== undefined ? { oomKills } : {}) };
  }
  const v1 = path.join(root, "memory");
  const max = read(path.join(v1, "memory.limit_in_bytes"));
  if (max === undefined) return {};
  const limit = limitOf(max);
  const oomKills = field(read(path.join(v1, "memory.oom_control")), "oom_kill");
  return { ...(limit !== undefined ? { limit, source: path.join(v1, "memory.limit_in_bytes") } : {}), ...(oomKills !== undefined ? { oomKills } : {}) };
}

const gib = (b: number): string => `${(b / 2 ** 30).toFixed(2)} GiB`;

/** Bytes of weights a job's model holds (the safetensors files in its folder), as a floor for its need. */
export function modelWeightBytes(model: string | undefined): number | undefined {
  if (!model) return undefined;
  try {
    const st = fs.statSync(model);
    const dir = st.isDirectory() ? model : path.dirname(model);
    let n = 0;
    for (const e of fs.readdirSync(dir)) if (e.endsWith(".safetensors")) n += fs.statSync(path.join(dir, e)).size;
    return n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The words after "the compute worker exited unexpectedly (signal SIGKILL" when the kill looks like
 * the OOM killer: certain when the cgroup's OOM-kill counter rose during the job, likely otherwise.
 */
export function oomReport(
  before: CgroupMemory,
  after: CgroupMemory,
  weightBytes: number | undefined,
  need?: { readonly bytes: number; readonly what: string },
): string {
  const certain = before.oomKills !== undefined && after.oomKills !== undefined && after.oomKills > before.oomKills;
  const limit = after.limit ?? before.limit;
  const parts = [certain ? "out of memory: the kernel's OOM killer stopped it" : "most likely out of memory (the kernel's OOM killer sends SIGKILL)"];
  if (limit !== undefined) parts.push(`the memory limit is ${gib(limit)} (${after.source ?? before.source})`);
  if (need) parts.push(`the job was estimated to need about ${gib(need.bytes)} (${need.what})`);
  else if (weightBytes !== undefined)
    parts.push(`the model's weights alone take ${gib(weightBytes)} on disk and about ${gib(weightBytes * 2)} or more while evaluated (float32 copies)`);
  parts.push("run on a machine or container with more memory, or on a smaller model");
  return parts.join("; ");
}
