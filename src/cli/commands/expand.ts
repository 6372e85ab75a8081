/** `headshare expand <compact> --out DIR`: a compact shared checkpoint back to ordinary (dense) shapes. */
import { defineCommand } from "../command";
import { keyValues, writeOut } from "../output";
import { absolute } from "../runJob";
import { checkOutFolder } from "./outDir";
import { outputFacts } from "./share";
import { JSON_FLAG } from "./matchFlags";

const usage = `usage: headshare expand <compact> --out DIR [--force] [--wait] [--json] [--debug]

Rebuilds the dense checkpoint (ordinary Hugging Face shapes, each shared unit holding its root's
weights) from a compact one written by headshare share --format compact. The result equals
headshare share --format dense byte for byte.

  <compact>   a compact headshare checkpoint (folder, .safetensors file or index json)
  --out DIR   output folder (refused when it exists and is not empty, unless --force)
  --json      print one JSON object {output, provider, seconds}`;

export const expandCommand = defineCommand({
  name: "expand",
  summary: "expand a compact shared checkpoint to the dense one",
  usage,
  flags: [{ name: "out", type: "string", short: "o" }, { name: "force", type: "boolean" }, { name: "wait", type: "boolean" }, JSON_FLAG],
  positionals: [{ name: "compact", required: true }],
  async run(c) {
    const a = c.args;
    const out = absolute(c.required("out", "--out DIR is required (a new folder for the dense checkpoint)") as string);
    const compact = absolute(a.positionals[0]!);
    const force = a.flags.force === true;
    await checkOutFolder("expand", usage, out, compact, force, "the dense checkpoint");
    const r = await c.job("headshare/expand", { compact, out, force, ...(a.flags.wait === true ? { wait: true } : {}) });
    if (a.flags.json) await writeOut(JSON.stringify(r));
    else await writeOut(keyValues([...outputFacts(r.output), ["time", `${r.seconds.toFixed(2)} s`]]));
    return 0;
  },
});
