/**
 * Crash-safety harness: runs a write job in a child process (the test file itself, in its child
 * role), first uninterrupted (the reference output and the number of kill points), then killed at
 * chosen kill points (SIGKILL from inside at the k-th mutating file-system call, and a few
 * external SIGKILLs at random times). After every kill:
 *   - every input file is byte-identical to before;
 *   - every file in the output folder either has a final name and exactly the reference bytes, or
 *     is a recognisable temporary file (`.headshare-tmp-*`); nothing else;
 *   - an index json present names only shards that are present and complete.
 * Finally one uninterrupted run into the same folder must leave exactly the reference files
 * (stale temporaries from the killed runs cleaned up).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export const TEMP_PREFIX = ".headshare-tmp-";
/** The writer lock beside an output folder (src/core/output/lock.ts): a killed writer leaves it; the next run breaks it. */
export const LOCK_PREFIX = ".headshare-lock-";
const isLeftover = (part: string): boolean => part.startsWith(TEMP_PREFIX) || part.startsWith(LOCK_PREFIX);
export const CHILD_ENV = "HEADSHARE_CRASH_CHILD";

export interface ChildSpec {
  readonly job: string;
  readonly input: string;
  readonly out: string;
  /** 0: no kill (count ops); k: SIGKILL at the k-th mutating fs op. */
  readonly killAt: number;
}

export interface ChildResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs the child role of `script` with `spec`; `killAfterMs` kills it from outside. */
export function runChild(script: string, spec: ChildSpec, killAfterMs?: number): Promise<ChildResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, [CHILD_ENV]: JSON.stringify(spec) };
  delete env.NODE_TEST_CONTEXT; // the child is a plain script, not a test-runner subprocess
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "",
      stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    const timer = killAfterMs !== undefined ? setTimeout(() => child.kill("SIGKILL"), killAfterMs) : undefined;
    const hard = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(hard);
      resolve({ code, signal, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

export function sha(file: string): string {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** name → sha256 of every file under `dir` (relative paths, recursive). */
export function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string, rel: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name),
        r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(p, r);
      else out.set(r, sha(p));
    }
  };
  if (fs.existsSync(dir)) walk(dir, "");
  return out;
}

/**
 * The checks after a killed run (see the file comment). With `prior` (the output the run was
 * replacing), a file may also be exactly its prior version, but an index may only name shards of
 * its own version (never old and new shards mixed). Returns the temp files seen.
 */
export function checkAfterKill(outDir: string, ref: ReadonlyMap<string, string>, what: string, prior?: ReadonlyMap<string, string>): string[] {
  const now = snapshot(outDir);
  const temps: string[] = [];
  for (const [name, hash] of now) {
    if (name.split("/").some(isLeftover)) {
      temps.push(name);
      continue;
    } // a temporary file, a file in a staging folder, or a stale lock
    assert.ok(
      ref.has(name) || prior?.has(name),
      `${what}: unexpected file "${name}" in the output folder (neither a final output nor a ${TEMP_PREFIX}* temporary)`,
    );
    assert.ok(
      hash === ref.get(name) || hash === prior?.get(name),
      `${what}: "${name}" exists under its final name but is neither the complete new output nor the untouched old one`,
    );
  }
  for (const [name, hash] of now) {
    if (!name.endsWith(".index.json") || name.split("/").some(isLeftover)) continue; // an aside being removed may be partial
    const idx = JSON.parse(fs.readFileSync(path.join(outDir, name), "utf8")) as { weight_map: Record<string, string> };
    const rels = [...new Set(Object.values(idx.weight_map))].map((shard) => path.posix.join(path.posix.dirname(name), shard).replace(/^\.\//, ""));
    for (const rel of rels) assert.ok(now.has(rel), `${what}: "${name}" is in place but its shard "${rel}" is not`);
    // The index and all its shards must be one version (the index text alone may be the same in both).
    const versions = [ref, ...(prior ? [prior] : [])].filter((v) => v.get(name) === hash);
    assert.ok(
      versions.some((v) => rels.every((rel) => now.get(rel) === v.get(rel))),
      `${what}: "${name}" names shards of different runs (${rels.map((rel) => `${rel}: ${now.get(rel) === ref.get(rel) ? "new" : "old"}`).join(", ")}): a mixed checkpoint that opens without error`,
    );
  }
  return temps;
}

/** Only the files under `sub/` (the folder a staged writer swaps in), relative to it. */
function under(files: ReadonlyMap<string, string>, sub: string): Map<string, string> {
  return new Map([...files].filter(([n]) => n.startsWith(`${sub}/`)).map(([n, h]) => [n.slice(sub.length + 1), h]));
}

/**
 * The stronger promise of a staged folder writer (src/core/output/folder.ts): once what the next
 * run does first (cleanStale: remove the dead writer's temporaries, put back an output moved aside)
 * has run, the folder `sub` is exactly the previous output or exactly the new one (absent when there
 * was none) — never a mix, never missing.
 */
export async function checkWholeAfterKill(
  outDir: string,
  sub: string,
  ref: ReadonlyMap<string, string>,
  what: string,
  prior?: ReadonlyMap<string, string>,
): Promise<"old" | "new" | "absent"> {
  const { cleanStale } = await import("../../src/core/output");
  await cleanStale(outDir);
  const now = under(snapshot(outDir), sub);
  for (const n of now.keys()) assert.ok(!n.split("/").some(isLeftover), `${what}: a temporary "${n}" inside the finished folder ${sub}`);
  const refSub = under(ref, sub),
    priorSub = prior ? under(prior, sub) : undefined;
  if (priorSub && priorSub.size) {
    const same = (m: ReadonlyMap<string, string>): boolean => m.size === now.size && [...m].every(([n, h]) => now.get(n) === h);
    assert.ok(
      same(priorSub) || same(refSub),
      `${what}: ${sub} is neither the previous output nor the new one after recovery: ${[...now.keys()].join(", ") || "(absent)"} vs previous ${[...priorSub.keys()].join(", ")}`,
    );
    return same(priorSub) ? "old" : "new";
  }
  if (now.size === 0) return "absent";
  assert.deepEqual(now, refSub, `${what}: ${sub} exists after the kill but is not the complete new output`);
  return "new";
}

function resetTo(outDir: string, priorDir: string | undefined): void {
  if (!priorDir) return;
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.cpSync(priorDir, outDir, { recursive: true });
}

/** Kill points to test out of 1..n: all when n ≤ max, else both ends, and evenly spread + seeded random ones. */
export function choosePoints(n: number, max: number, seed: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i + 1);
  const pts = new Set<number>([1, 2, n - 1, n]);
  let s = seed >>> 0;
  const rnd = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  for (let i = 0; pts.size < Math.ceil(max * 0.6) && i < max; i++) pts.add(1 + Math.floor(((i + 0.5) / max) * n));
  while (pts.size < max) pts.add(1 + Math.floor(rnd() * n));
  return [...pts].sort((a, b) => a - b);
}

export interface CrashRunReport {
  readonly job: string;
  readonly ops: number;
  readonly killPoints: number;
  readonly externalKills: number;
  readonly tempsSeen: number;
  readonly seconds: number;
  /** With `whole`: how often the folder was the previous output / the new one / absent after a kill and recovery. */
  readonly outcomes?: Record<"old" | "new" | "absent", number>;
}

/**
 * The whole procedure for one job. `inputDir` is snapshotted before and compared after every
 * run; `outDir` must not exist yet.
 */
export async function crashTestJob(
  script: string,
  job: string,
  input: string,
  inputDir: string,
  outDir: string,
  refDir: string,
  maxPoints: number,
  externalKills: number,
  seed: number,
  priorDir?: string,
  whole?: string,
): Promise<CrashRunReport> {
  const outcomes = { old: 0, new: 0, absent: 0 };
  const t0 = performance.now();
  const inputBefore = snapshot(inputDir);
  resetTo(refDir, priorDir);
  const prior = priorDir ? snapshot(priorDir) : undefined;
  const ref = await runChild(script, { job, input, out: refDir, killAt: 0 });
  assert.equal(ref.code, 0, `${job}: the uninterrupted reference run failed: ${ref.stderr}`);
  const ops = Number(/OPS (\d+)/.exec(ref.stdout)?.[1]);
  assert.ok(ops > 0, `${job}: the child reported no kill points (${ref.stdout})`);
  const refFiles = snapshot(refDir);
  assert.ok(refFiles.size > 0, `${job}: the reference run wrote nothing`);
  assert.ok(![...refFiles.keys()].some((n) => n.split("/").some(isLeftover)), `${job}: the reference run left temporary files or a lock`);
  let temps = 0;
  // A staged replace ends with its swap (rename aside, rename in, remove the aside, release the lock):
  // those last calls are always among the points, so every file-system call of the swap is killed.
  const points = [
    ...new Set([...choosePoints(ops, maxPoints, seed), ...(whole && priorDir ? Array.from({ length: Math.min(ops, 10) }, (_, i) => ops - i) : [])]),
  ].sort((a, b) => a - b);
  for (const k of points) {
    resetTo(outDir, priorDir);
    const r = await runChild(script, { job, input, out: outDir, killAt: k });
    if (r.signal !== "SIGKILL") {
      // The op count can vary by a few between runs (stale temporaries to clean); a run that ends
      // before reaching point k must then have completed normally.
      assert.equal(r.code, 0, `${job}: kill point ${k}/${ops} did not kill the child and it failed: ${r.stderr.slice(0, 2000)}`);
      assert.ok(k > ops - 5, `${job}: the run ended before kill point ${k} of ${ops}`);
      checkAfterKill(outDir, refFiles, `${job} run past kill point ${k}`, prior);
      continue;
    }
    assert.deepEqual(snapshot(inputDir), inputBefore, `${job}: the input changed after a kill at point ${k}`);
    temps += checkAfterKill(outDir, refFiles, `${job} killed at op ${k}/${ops}`, prior).length;
    if (whole) outcomes[await checkWholeAfterKill(outDir, whole, refFiles, `${job} killed at op ${k}/${ops}`, prior)]++;
  }
  let s = seed >>> 0;
  for (let i = 0; i < externalKills; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const delay = 40 + (s / 2 ** 32) * Math.max(10, ref.ms - 40); // the child needs ~40 ms to start
    resetTo(outDir, priorDir);
    const r = await runChild(script, { job, input, out: outDir, killAt: 0 }, delay);
    assert.deepEqual(snapshot(inputDir), inputBefore, `${job}: the input changed after an external kill at ${delay.toFixed(0)} ms`);
    if (r.signal === "SIGKILL") {
      temps += checkAfterKill(outDir, refFiles, `${job} killed from outside after ${delay.toFixed(0)} ms`, prior).length;
      if (whole) outcomes[await checkWholeAfterKill(outDir, whole, refFiles, `${job} killed from outside after ${delay.toFixed(0)} ms`, prior)]++;
    } else assert.equal(r.code, 0, `${job}: run after external kill timer failed: ${r.stderr}`);
  }
  const fin = await runChild(script, { job, input, out: outDir, killAt: 0 });
  assert.equal(fin.code, 0, `${job}: the run after the kills failed: ${fin.stderr}`);
  assert.deepEqual(
    snapshot(outDir),
    refFiles,
    `${job}: after a complete run the output folder is not exactly the reference output (stale temporaries must be cleaned on the next run)`,
  );
  assert.deepEqual(snapshot(inputDir), inputBefore, `${job}: the input changed`);
  return { job, ops, killPoints: points.length, externalKills, tempsSeen: temps, seconds: (performance.now() - t0) / 1000, ...(whole ? { outcomes } : {}) };
}
