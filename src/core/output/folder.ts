/**
 * Staged output folders: every writer of a folder (share, expand, postshare, training
 * checkpoints) goes through `stageOutputFolder`, which, before the first byte is written,
 *   1. checks the path rules (absolute, not the input, not inside or around it; the parent exists
 *      and is a writable folder; an existing target is a folder, empty or replaceable with force);
 *   2. takes the folder's lock (./lock.ts), then cleans what killed writers left beside it
 *      (./clean.ts, which also puts back an output a killed swap had moved aside);
 *   3. checks free space for the estimated bytes;
 *   4. makes the staging folder `.headshare-tmp-<name>-<owner>-<hex>` beside the target.
 * The caller writes into `stage` and calls `commit()`: the target, when present, is renamed aside,
 * the stage renamed in, the aside removed (a kill between the two renames is repaired by the next
 * clean). `abort()` removes the stage; the previous output is untouched until commit.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { cleanStale } from "./clean";
import { OutputError } from "./errors";
import { addLiveStaging, removeLiveStaging } from "./live";
import { lockOutput, type OutputLock, type WaitingPhase } from "./lock";
import { tempPathFor } from "./names";
import { isReplaceableEntry, outputProblem } from "./rules";
import { checkFreeSpace } from "./space";

export interface StageOptions {
  readonly out: string;
  /** Folders the output must not be, be inside of, or contain (the inputs). */
  readonly inputs?: readonly string[];
  /** Replace an existing non-empty folder (only checkpoint-like files; anything else is refused). */
  readonly force?: boolean;
  /** Wait for another writer of the folder (ms, or true) instead of failing. */
  readonly wait?: boolean | number;
  /** Told once when another live writer holds the folder and this one waits (./lock.ts LockOptions.onWait): a progress phase. */
  readonly onWait?: (phase: WaitingPhase) => void;
  readonly signal?: AbortSignal;
  /** Estimated bytes the output will take (free-space check). */
  readonly needBytes?: number;
  /** What is written, for messages ("the shared checkpoint"). */
  readonly what: string;
}

export interface StagedFolder {
  readonly out: string;
  /** Write everything here. */
  readonly stage: string;
  /** True when an existing output will be replaced at commit. */
  readonly replacing: boolean;
  /** Swaps the stage in (replacing the previous output) and releases the lock. */
  commit(): Promise<void>;
  /** Removes the stage and releases the lock; the previous output stays as it was. */
  abort(): Promise<void>;
}

/** The path and parent rules alone (no lock, nothing written): for early checks by the CLI and extension. */
export async function checkOutputPath(outDir: string, opts: Pick<StageOptions, "inputs" | "force" | "what">): Promise<{ out: string; exists: boolean }> {
  if (typeof outDir !== "string" || outDir.length === 0) throw new OutputError("bad-out", String(outDir), `the output folder for ${opts.what} must be named`);
  const out = path.resolve(outDir);
  for (const input of opts.inputs ?? []) {
    const realIn = await fs.realpath(input).catch(() => path.resolve(input));
    const realOut = path.join(await fs.realpath(path.dirname(out)).catch(() => path.dirname(out)), path.basename(out));
    const problem = outputProblem(realIn, realOut) ?? outputProblem(path.resolve(input), out);
    if (problem) throw new OutputError("out-is-input", out, `${out}: ${problem}`);
  }
  const parent = path.dirname(out);
  const pst = await fs.stat(parent).catch((e: NodeJS.ErrnoException) => e);
  if (pst instanceof Error) {
    throw new OutputError(
      "no-parent",
      out,
      pst.code === "ENOENT"
        ? `${out}: its parent folder ${parent} does not exist; create it first (headshare does not create folders above the output)`
        : `${out}: its parent folder ${parent} cannot be read (${pst.code ?? pst.message})`,
    );
  }
  if (!pst.isDirectory()) throw new OutputError("no-parent", out, `${out}: ${parent} is not a folder`);
  try {
    await fs.access(parent, fs.constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new OutputError(
      "not-writable",
      out,
      `${out}: the folder ${parent} is not writable (${code === "EROFS" ? "read-only file system" : (code ?? "no permission")}); the output is staged beside its target, so choose a writable place`,
    );
  }
  const st = await fs.lstat(out).catch(() => undefined);
  if (!st) return { out, exists: false };
  if (!st.isDirectory()) throw new OutputError("out-exists", out, `${out} exists and is not a folder; choose another output folder`);
  const entries = await fs.readdir(out, { withFileTypes: true });
  if (entries.length > 0 && !opts.force)
    throw new OutputError("out-exists", out, `${out} is not empty; choose an empty or new folder, or pass force (--force) to replace it`);
  const foreign = entries.filter((e) => !isReplaceableEntry(e.name, e.isFile())).map((e) => e.name + (e.isDirectory() ? "/" : ""));
  if (foreign.length) {
    throw new OutputError(
      "out-exists",
      out,
      `${out} holds files that are not a checkpoint's (${foreign.slice(0, 5).join(", ")}${foreign.length > 5 ? `, … ${foreign.length} in all` : ""}); --force replaces the whole folder, so move them out first or choose another folder`,
    );
  }
  return { out, exists: true };
}

export async function stageOutputFolder(opts: StageOptions): Promise<StagedFolder> {
  await checkOutputPath(opts.out, opts);
  const out = path.resolve(opts.out);
  const parent = path.dirname(out);
  const lock: OutputLock = await lockOutput(out, {
    what: opts.what,
    ...(opts.wait !== undefined ? { wait: opts.wait } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onWait ? { onWait: opts.onWait } : {}),
  });
  let stage: string | undefined;
  try {
    await cleanStale(parent); // under the lock: another writer of this folder cannot be mid-swap
    const { exists } = await checkOutputPath(out, opts); // again, under the lock (a writer may have finished meanwhile)
    await checkFreeSpace(parent, opts.needBytes ?? 0, opts.what, exists ? " (the previous output stays until the new one is complete)" : "");
    stage = tempPathFor(out);
    addLiveStaging(stage);
    await fs.mkdir(stage);
  } catch (e) {
    if (stage) removeLiveStaging(stage);
    await lock.release();
    if (e instanceof OutputError) throw e;
    throw new OutputError("not-writable", out, `${out}: cannot prepare the output (${e instanceof Error ? e.message : String(e)}); nothing was changed`);
  }
  const staged = stage;
  let done = false;
  let replacing = await fs.lstat(out).then(
    () => true,
    () => false,
  );
  return {
    out,
    stage: staged,
    get replacing() {
      return replacing;
    },
    async commit() {
      if (done) throw new Error("the staged output was already committed or aborted");
      done = true;
      let aside: string | undefined;
      try {
        replacing = await fs.lstat(out).then(
          () => true,
          () => false,
        );
        if (replacing) {
          aside = tempPathFor(out, ".old");
          await fs.rename(out, aside);
        }
        await fs.rename(staged, out);
      } catch (e) {
        // Put the previous output back (when it was moved), drop the stage.
        if (aside) await fs.rename(aside, out).catch(() => undefined);
        await fs.rm(staged, { recursive: true, force: true }).catch(() => undefined);
        removeLiveStaging(staged);
        await lock.release();
        throw new OutputError(
          "swap-failed",
          out,
          `${out}: moving the finished output into place failed (${e instanceof Error ? e.message : String(e)}); the previous output was kept`,
        );
      }
      // The new output is in place; the old one goes (a failure here leaves only a temporary that the next run removes).
      removeLiveStaging(staged);
      if (aside) await fs.rm(aside, { recursive: true, force: true }).catch(() => undefined);
      await lock.release();
    },
    async abort() {
      if (done) return;
      done = true;
      await fs.rm(staged, { recursive: true, force: true }).catch(() => undefined);
      removeLiveStaging(staged);
      await lock.release();
    },
  };
}
