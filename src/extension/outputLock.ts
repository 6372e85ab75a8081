/**
 * A writer that finds its output folder locked by another headshare run (src/core/output/lock.ts)
 * asks before it starts: "Wait for it" (the job then waits on the same lock, as the CLI's --wait) or
 * "Cancel", with the owner's details. Automation (options given) gets the answer from `wait`, or
 * the job's own refusal naming the owner when `wait` is not set.
 */
import * as vscode from "vscode";
import { lockHolder } from "../core/output/lock";

/** true: wait for the lock; false: the user cancelled; undefined: the folder is free (or not interactive: the job decides). */
export async function askWaitForLock(out: string, interactive: boolean, given: boolean | undefined): Promise<boolean | undefined> {
  if (given !== undefined) return given;
  const held = await lockHolder(out).catch(() => undefined);
  if (!held || !interactive) return undefined;
  const detail =
    held.state === "unknown"
      ? `It runs on another host or container, so headshare cannot tell whether it is alive; if it is gone, delete ${held.file}.`
      : "Waiting starts this job as soon as that run finishes; nothing is written before.";
  const pick = await vscode.window.showWarningMessage(`${out} is being written by ${held.who}.`, { modal: true, detail }, "Wait for it");
  return pick === "Wait for it";
}
