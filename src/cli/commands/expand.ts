/** `headshare expand <compact> --out DIR`: a compact shared checkpoint back to ordinary (dense) shapes. */
import { type Command, parseArgs, UsageError } from "../args";
import { keyValues, writeOut } from "../output";
import { absolute, cancellable, runJob } from "../runJob";
import { checkOutDir } from "./outDir";
import { outputFacts } from "./share";

const usage = `usage: headshare expand <compact> --out DIR [--force] [--json] [--debug]

Rebuilds the dense checkpoint (ordinary Hugging Face shapes, each shared unit holding its root's
weights) from a compact one written by headshare share --format compact. The result equals
headshare share --format dense byte for byte.

  <compact>   a compact headshare checkpoint (folder, .safetensors file or index json)
  --out DIR   output folder (refused when it exists and is not empty, unless --force)
  --json      print one JSON object {output, provider, seconds}`;

const spec = {
  command: "expand", usage,
  flags: [
    { name: "out", type: "string", short: "o" },
    { name: "force", type: "boolean" },
    { name: "json", type: "boolean" },
  ],
  positionals: [{ name: "compact", required: true }],
} as const;

export const expandCommand: Command = {
  name: "expand",
  summary: "expand a compact shared checkpoint to the dense one",
  usage,
  run: (argv) => cancellable(async () => {
    const a = parseArgs(spec, argv);
    if (a.help) {
      await writeOut(usage);
      return 0;
    }
    if (a.flags.out === undefined) throw new UsageError("expand: --out DIR is required (a new folder for the dense checkpoint)", usage);
    const compact = absolute(a.positionals[0]!);
    const out = absolute(a.flags.out as string);
    const force = a.flags.force === true;
    checkOutDir("expand", usage, out, compact, force);
    const r = await runJob("headshare/expand", { compact, out, force }, { debug: a.debug });
    if (a.flags.json) await writeOut(JSON.stringify(r));
    else await writeOut(keyValues([...outputFacts(r.output), ["time", `${r.seconds.toFixed(2)} s`]]));
    return 0;
  }),
};
