/**
 * `headshare <command> [args]`: the CLI dispatcher (dist/cli.js). Each command is one line in
 * COMMANDS; errors go to stderr as one line (`headshare: <message>`), exit code 1, stack only
 * with --debug.
 */
import { setFollowSymlinks } from "../core/safetensors/contained";
import { type Command, GLOBAL_USAGE, globalSwitch, globalValue, UsageError } from "./args";
import { setJobTimeoutMinutes } from "./runJob";
import { demoCommand } from "./commands/demo";
import { devicesCommand } from "./commands/devices";
import { evalCommand } from "./commands/eval";
import { expandCommand } from "./commands/expand";
import { exportCommand } from "./commands/export";
import { generateCommand } from "./commands/generate";
import { inspectCommand } from "./commands/inspect";
import { matchCommand } from "./commands/match";
import { planCommand } from "./commands/plan";
import { postshareCommand } from "./commands/postshare";
import { postshareImportCommand, postshareJobCommand } from "./commands/postshareJob";
import { shareCommand } from "./commands/share";
import { sweepCommand } from "./commands/sweep";
import { formatError, writeOut } from "./output";

export const COMMANDS: readonly Command[] = [
  inspectCommand,
  matchCommand,
  planCommand,
  shareCommand,
  expandCommand,
  evalCommand,
  sweepCommand,
  postshareCommand,
  postshareJobCommand,
  postshareImportCommand,
  exportCommand,
  generateCommand,
  demoCommand,
  devicesCommand,
];

const VERSION = "0.1.0";

function overview(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "usage: headshare <command> [options]   (headshare <command> --help for details)",
    "",
    "Compress transformer checkpoints by head-wise attention weight sharing (DirectShare / PostShare).",
    "",
    "commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`),
    "",
    GLOBAL_USAGE,
  ].join("\n");
}

export async function main(argv: readonly string[]): Promise<number> {
  const debug = argv.includes("--debug");
  // The user's consent to follow links out of a model folder: for this process (inspect reads
  // in-process) and for the worker it starts (cliClient passes it on). The command's parser
  // validates the switch like any other flag.
  if (globalSwitch(argv, "follow-symlinks")) setFollowSymlinks(true);
  const timeout = globalValue(argv, "timeout");
  if (timeout !== undefined) {
    const minutes = Number(timeout);
    if (!(minutes >= 0) || !Number.isFinite(minutes)) {
      process.stderr.write(`headshare: --timeout ${timeout}: give the job time limit in minutes (0 = no limit), e.g. --timeout 120\n`);
      return 1;
    }
    setJobTimeoutMinutes(minutes);
  }
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === "--help" || name === "-h" || (name === "help" && rest.length === 0)) {
      await writeOut(overview());
      return 0;
    }
    if (name === "--version" || name === "-v") {
      await writeOut(VERSION);
      return 0;
    }
    if (name === "help") {
      const c = COMMANDS.find((x) => x.name === rest[0]);
      if (!c) throw new UsageError(`unknown command "${rest[0]}"`, overview());
      await writeOut(`${c.usage}\n\n${GLOBAL_USAGE}`);
      return 0;
    }
    const cmd = COMMANDS.find((c) => c.name === name);
    if (!cmd) {
      throw new UsageError(name.startsWith("-") ? `expected a command before ${name}` : `unknown command "${name}"`, overview());
    }
    return await cmd.run(rest);
  } catch (e) {
    process.stderr.write(`${formatError(e, debug)}\n`);
    return 1;
  }
}

if (require.main === module) {
  // A reader that stops early (`headshare inspect x | head`) closes the pipe: stop quietly.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code === "EPIPE") process.exit(0);
    process.stderr.write(`headshare: cannot write the output: ${e.message}\n`);
    process.exit(1);
  });
  // A closed terminal (SIGHUP) or a killed reader closes stderr: progress lines must not crash the cleanup.
  process.stderr.on("error", () => undefined);
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`${formatError(e, debug())}\n`);
      process.exitCode = 1;
    },
  );
}

function debug(): boolean {
  return process.argv.includes("--debug");
}
