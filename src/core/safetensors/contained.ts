/**
 * Files a model folder names (shards in an index, config.json, tokenizer files) must stay inside
 * that folder: a downloaded model must not make headshare read (or copy into an output) any file
 * on the user's machine through a symlink. A symlink whose target resolves outside the folder is
 * refused unless the user consents: the CLI's `--follow-symlinks` (or `HEADSHARE_FOLLOW_SYMLINKS=1` in
 * the shell that starts it) or the trusted extension's `headshare.followSymlinks` setting, or
 * `allowOutside` from a caller. Each process records its own decision with `setFollowSymlinks`: the
 * CLI and the extension host from the user, the worker from the `followSymlinks` parameter of its
 * initialize handshake (src/protocol/worker.ts), a match thread from its workerData. One layout is
 * recognised as inside: the Hugging Face hub cache, where `models--org--name/snapshots/<rev>/*` are
 * links into `models--org--name/blobs/`.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { SafetensorsError } from "./errors";

export interface ContainOptions {
  /** The user's explicit consent to follow links out of the model folder. */
  readonly allowOutside?: boolean;
}

/** The environment variable a user may set instead of the CLI's flag (read only when no decision was recorded). */
export const FOLLOW_SYMLINKS_ENV = "HEADSHARE_FOLLOW_SYMLINKS";

/** This process's explicit decision (CLI flag, extension setting, worker handshake); undefined: the environment decides. */
let consent: boolean | undefined;

/** Records the user's explicit decision for this process (the CLI's `--follow-symlinks`, the worker's handshake). */
export function setFollowSymlinks(on: boolean | undefined): void {
  consent = on;
}

/** The user's consent: this process's explicit decision, else `HEADSHARE_FOLLOW_SYMLINKS=1` in the environment. */
export function followSymlinksConsent(): boolean {
  return consent ?? process.env[FOLLOW_SYMLINKS_ENV] === "1";
}

/** The folder that bounds `folder`'s files: the repo folder for a hub-cache snapshot, else itself. */
export function containmentRoot(folder: string): string {
  const abs = path.resolve(folder);
  const parent = path.dirname(abs);
  const repo = path.dirname(parent);
  if (path.basename(parent) === "snapshots" && path.basename(repo).startsWith("models--")) return repo;
  return abs;
}

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === "" || (rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * Throws SafetensorsError "symlink-outside-folder" when `file` (in `folder`) resolves outside the
 * model folder. A file that does not exist passes (its absence is reported by whoever reads it).
 */
export async function assertInsideFolder(folder: string, file: string, what: string, opts: ContainOptions = {}): Promise<void> {
  if (opts.allowOutside ?? followSymlinksConsent()) return;
  let real: string;
  try {
    real = await fs.realpath(file);
  } catch {
    return;
  }
  const root = containmentRoot(folder);
  let realRoot: string;
  try {
    realRoot = await fs.realpath(root);
  } catch {
    realRoot = path.resolve(root);
  }
  if (!inside(realRoot, real)) {
    throw new SafetensorsError(
      "symlink-outside-folder",
      path.resolve(file),
      `the ${what} is a link to ${real}, outside the model folder ${path.resolve(folder)}; headshare does not follow links out of a model folder (a downloaded model could point at any file on this machine). Copy the file into the folder, or allow it: --follow-symlinks (CLI), the headshare.followSymlinks setting (VS Code, trusted workspaces), or HEADSHARE_FOLLOW_SYMLINKS=1`,
    );
  }
}
