/**
 * The CLI's shared argument parser and command contract. Every command declares its flags and
 * positionals; flags are validated up front (type, choices, range); unknown flags and missing
 * positionals are refused with the command's usage. `--debug`, `--help` and `--follow-symlinks` are
 * accepted by all.
 */

/** One CLI command: a line in the table in src/cli/main.ts. */
export interface Command {
  readonly name: string;
  /** One line for `headshare --help`. */
  readonly summary: string;
  /** Full usage text for `headshare <name> --help` and usage errors. */
  readonly usage: string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(argv: readonly string[]): Promise<number>;
}

export type FlagType = "boolean" | "string" | "number" | "int";

export interface FlagSpec {
  readonly name: string; // without dashes: "json" for --json
  readonly type: FlagType;
  readonly short?: string; // one letter: "o" for -o
  readonly choices?: readonly string[];
  readonly min?: number;
  readonly max?: number;
  /** May be given several times (values collected in order). */
  readonly repeatable?: boolean;
}

export interface ArgSpec {
  readonly command: string;
  readonly usage: string;
  readonly flags: readonly FlagSpec[];
  /** Positional names in order; a trailing "..." name takes the rest. */
  readonly positionals: readonly { readonly name: string; readonly required: boolean }[];
}

export type FlagValue = boolean | string | number | readonly string[] | readonly number[];

export interface ParsedArgs {
  readonly flags: Readonly<Record<string, FlagValue | undefined>>;
  readonly positionals: readonly string[];
  readonly debug: boolean;
  readonly help: boolean;
  /** `--follow-symlinks`: the user consents to files of a model folder linking outside it. */
  readonly followSymlinks: boolean;
}

/** A command-line mistake: printed as one line plus the usage, exit code 1. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly code = "usage";
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
  }
}

const GLOBAL_FLAGS: readonly FlagSpec[] = [
  { name: "debug", type: "boolean" },
  { name: "help", type: "boolean", short: "h" },
  { name: "follow-symlinks", type: "boolean" },
  { name: "timeout", type: "number", min: 0 },
];

/** Usage lines for the global options, shared by `headshare --help` and every command's usage. */
export const GLOBAL_USAGE =
  "global options: --debug (stack traces on errors), --follow-symlinks (read model files that link outside\n" +
  "  the model folder; refused by default, since a downloaded model could point at any file), --timeout MINUTES (stop a job\n" +
  "  that runs longer; default 1440 = 24 h, 0 = no limit), --help";

/** The value of a global `--name N` / `--name=N` in a raw argv (the last one before `--`), before any command parses it. */
export function globalValue(argv: readonly string[], name: string): string | undefined {
  let v: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") break;
    if (arg === `--${name}`) v = argv[i + 1];
    else if (arg.startsWith(`--${name}=`)) v = arg.slice(name.length + 3);
  }
  return v;
}

/**
 * Whether a global switch (`--debug`, `--follow-symlinks`) is on in a raw argv, before any command
 * parses it: the last `--name` / `--name=true|false` before `--` wins. The command's parser still
 * validates the value.
 */
export function globalSwitch(argv: readonly string[], name: string): boolean {
  let on = false;
  for (const arg of argv) {
    if (arg === "--") break;
    if (arg === `--${name}` || arg === `--${name}=true`) on = true;
    else if (arg === `--${name}=false`) on = false;
  }
  return on;
}

function convert(spec: FlagSpec, raw: string, a: ArgSpec): string | number {
  if (spec.type === "string") {
    if (spec.choices && !spec.choices.includes(raw)) {
      throw new UsageError(`${a.command}: --${spec.name} must be one of ${spec.choices.join(", ")} (got "${raw}")`, a.usage);
    }
    return raw;
  }
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(v) || (spec.type === "int" && !Number.isSafeInteger(v))) {
    throw new UsageError(`${a.command}: --${spec.name} needs ${spec.type === "int" ? "an integer" : "a number"} (got "${raw}")`, a.usage);
  }
  if ((spec.min !== undefined && v < spec.min) || (spec.max !== undefined && v > spec.max)) {
    throw new UsageError(`${a.command}: --${spec.name} must be in [${spec.min ?? "-∞"}, ${spec.max ?? "∞"}] (got ${raw})`, a.usage);
  }
  return v;
}

/** Parses argv (after the command name). `--flag value`, `--flag=value`, `-f value`, `--` ends flags. */
export function parseArgs(a: ArgSpec, argv: readonly string[]): ParsedArgs {
  const specs = [...GLOBAL_FLAGS, ...a.flags];
  const flags: Record<string, FlagValue | undefined> = {};
  const positionals: string[] = [];
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (onlyPositionals || !arg.startsWith("-") || arg === "-") {
      positionals.push(arg);
      continue;
    }
    if (arg === "--") {
      onlyPositionals = true;
      continue;
    }
    let name: string, inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
      inline = eq >= 0 ? arg.slice(eq + 1) : undefined;
    } else {
      const short = arg.slice(1);
      const s = specs.find((f) => f.short === short);
      if (!s) throw new UsageError(`${a.command}: unknown option ${arg}`, a.usage);
      name = s.name;
    }
    const spec = specs.find((f) => f.name === name);
    if (!spec) throw new UsageError(`${a.command}: unknown option --${name}`, a.usage);
    let value: string | number | boolean;
    if (spec.type === "boolean") {
      if (inline !== undefined && inline !== "true" && inline !== "false") {
        throw new UsageError(`${a.command}: --${name} is a switch; use --${name} or --${name}=false`, a.usage);
      }
      value = inline !== "false";
    } else {
      const raw = inline ?? argv[++i];
      if (raw === undefined) throw new UsageError(`${a.command}: --${name} needs a value`, a.usage);
      value = convert(spec, raw, a);
    }
    if (spec.repeatable) {
      const prev = (flags[name] as readonly (string | number)[] | undefined) ?? [];
      flags[name] = [...prev, value as string | number] as readonly string[] | readonly number[];
    } else {
      if (flags[name] !== undefined && spec.type !== "boolean") throw new UsageError(`${a.command}: --${name} is given twice`, a.usage);
      flags[name] = value;
    }
  }
  const help = flags.help === true;
  const debug = flags.debug === true;
  const followSymlinks = flags["follow-symlinks"] === true;
  if (!help) {
    const rest = a.positionals.at(-1)?.name.endsWith("...");
    const max = rest ? Infinity : a.positionals.length;
    const required = a.positionals.filter((p) => p.required);
    if (positionals.length < required.length) {
      throw new UsageError(`${a.command}: missing <${required[positionals.length]!.name.replace(/\.\.\.$/, "")}>`, a.usage);
    }
    if (positionals.length > max) throw new UsageError(`${a.command}: unexpected argument "${positionals[max]}"`, a.usage);
  }
  return { flags, positionals, debug, help, followSymlinks };
}
