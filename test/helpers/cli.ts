/** Runs the built CLI (`dist/cli.js`) in a child process; tests skip with `noCli` when it is not built. */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const cli = path.resolve(__dirname, "../../dist/cli.js");
export const noCli: false | string = fs.existsSync(cli) ? false : "dist/cli.js is not built (npm run build)";

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[]): Promise<CliRun> {
  return startCli(args).done;
}

/** A running CLI: its process (for signals), the output so far, and its end. */
export interface StartedCli {
  readonly child: ChildProcess;
  readonly stderrSoFar: () => string;
  readonly done: Promise<CliRun>;
}

export function startCli(args: readonly string[]): StartedCli {
  const child = spawn(process.execPath, [cli, ...args], { cwd: os.tmpdir(), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "",
    stderr = "";
  child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
  return { child, stderrSoFar: () => stderr, done };
}
