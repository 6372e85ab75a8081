/** Runs the built CLI (`node dist/cli.js …`) as a child process and collects its output. */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const CLI = path.resolve(__dirname, "../../dist/cli.js");
/** `false` when dist/cli.js is built, else the skip reason. */
export const noCli: false | string = fs.existsSync(CLI) ? false : "dist/cli.js is not built (npm run build)";

export interface CliRun { code: number | null; stdout: string; stderr: string }

export function runCli(args: readonly string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: os.tmpdir(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
