/** Restricted Mode: only inspection runs; every other command says so and offers to manage trust. */
import * as vscode from "vscode";
import { ExtensionError } from "./errors";

export async function requireTrust(what: string): Promise<void> {
  if (vscode.workspace.isTrusted) return;
  void vscode.window
    .showWarningMessage(
      `Headshare: ${what} is disabled in Restricted Mode (it runs models on files from this workspace). Only Inspect Checkpoint is available.`,
      "Manage Workspace Trust",
    )
    .then((a) => {
      if (a) void vscode.commands.executeCommand("workbench.trust.manage");
    });
  throw new ExtensionError("untrusted", `${what} is disabled in Restricted Mode; trust the workspace to run it`);
}
