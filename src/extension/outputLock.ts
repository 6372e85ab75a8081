/**
 * Every writer command (Compress, Export for ONNX Runtime…, Export PostShare Job…, Import PostShare
 * Job Result…) that finds its output folder locked by another headshare run (src/core/output/lock.ts)
 * asks before it starts: "Wait for it" (the job then waits on the same lock, as the CLI's --wait) or
 * "Cancel", with the owner's details. Automation (options given) gets the answer from `wait`, or
 * the job's own refusal naming the owner when `wait` is not set.
 */
import * as vscode from "vscode";
import { lockHolder } from "../core/output/lock";

export const WAIT_FOR_IT = "Wait for it";

/**
 * The `wait` part of the job's params: `{ wait: true }` (the user chose Wait for it, or `given`),
 * `{}` (the folder is free, or not interactive: the job decides), or undefined when the user chose Cancel.
 */
export async function lockChoice(out: string, interactive: boolean, given: boolean | undefined): Promise<{ readonly wait?: boolean } | undefined> {
  if (given !== undefined) return given ? { wait: true } : {};
  const held = await lockHolder(out).catch(() => undefined);
  if (!held || !interactive) return {};
  const detail =
    held.state === "unknown"
      ? `It runs on another host or container, so headshare cannot tell whether it is alive; if it is gone, delete ${held.file}.`
      : "Waiting starts this job as soon as that run finishes; nothing is written before.";
  const pick = await vscode.window.showWarningMessage(`${out} is being written by ${held.who}.`, { modal: true, detail }, WAIT_FOR_IT);
  return pick === WAIT_FOR_IT ? { wait: true } : undefined;
}
