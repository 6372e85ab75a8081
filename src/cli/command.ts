/**
 * `defineCommand`: the one shape of a CLI command. It parses and validates the arguments against the
 * command's spec, answers `--help` with the usage (and the global options), turns a Ctrl-C cancel into exit code 130
 * (`cancellable`), and hands the body its parsed arguments plus helpers for what every command
 * repeats: required flags, `--providers`, and running a worker job with the command's providers and
 * `--debug`.
 */
import type { JobParams, JobResult, WorkerJob } from "../protocol/worker";
import type { Providers } from "../protocol/common";
import { type ArgSpec, type Command, type FlagValue, GLOBAL_USAGE, type ParsedArgs, parseArgs, UsageError } from "./args";
import { writeOut } from "./output";
import { cancellable, parseProviders, runJob } from "./runJob";

/** What a command body gets. */
export interface CommandContext {
  readonly args: ParsedArgs;
  /** The value of a flag the command cannot run without; otherwise a UsageError `<command>: <message>`. */
  required(flag: string, message: string): FlagValue;
  /**
   * The command's `--providers` (parsed when first asked, so the body decides which errors come
   * first); "auto" when the flag is absent.
   */
  providers(): Providers;
  /** A UsageError naming the command, with its usage. */
  usageError(message: string): UsageError;
  /** Runs one worker job with progress and Ctrl-C handling, on the command's `--providers` (when it has that flag) and `--debug`. */
  job<M extends WorkerJob>(method: M, params: JobParams<M>): Promise<JobResult<M>>;
}

export interface CommandDefinition extends Omit<ArgSpec, "command"> {
  readonly name: string;
  /** One line for `headshare --help`. */
  readonly summary: string;
  /** Resolves to the exit code; runs after the arguments parsed and `--help` was not asked. */
  run(c: CommandContext): Promise<number>;
}

export function defineCommand(def: CommandDefinition): Command {
  const spec: ArgSpec = { command: def.name, usage: def.usage, flags: def.flags, positionals: def.positionals };
  const hasProviders = def.flags.some((f) => f.name === "providers");
  return {
    name: def.name,
    summary: def.summary,
    usage: def.usage,
    run: (argv) =>
      cancellable(async () => {
        const args = parseArgs(spec, argv);
        if (args.help) {
          await writeOut(`${def.usage}\n\n${GLOBAL_USAGE}`);
          return 0;
        }
        let providers: Providers | undefined;
        const c: CommandContext = {
          args,
          required(flag, message) {
            const v = args.flags[flag];
            if (v === undefined) throw new UsageError(`${def.name}: ${message}`, def.usage);
            return v;
          },
          providers() {
            providers ??= parseProviders(args.flags.providers as string | undefined, def.name, def.usage);
            return providers;
          },
          usageError: (message) => new UsageError(`${def.name}: ${message}`, def.usage),
          job: (method, params) => runJob(method, params, { ...(hasProviders ? { providers: c.providers() } : {}), debug: args.debug }),
        };
        return def.run(c);
      }),
  };
}
