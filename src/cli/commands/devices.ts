/** `headshare devices`: the execution providers and GPU adapters this machine can use, each checked, and what auto picks. */
import { adapterLabel, computeText } from "../../protocol/common";
import { defineCommand } from "../command";
import { table, writeOut } from "../output";
import { JSON_FLAG } from "./matchFlags";

const usage = `usage: headshare devices [--json] [--debug]

Lists the execution providers headshare can run on here: each is checked with a small session (not
assumed), with its GPU adapter (vendor, device, backend) or why it does not work, and which one
--providers auto picks. A software adapter (SwiftShader, llvmpipe, WARP) works only when asked for
by name (--providers webgpu); auto never picks it. See docs/gpu.md.

  --json   print one JSON object {devices, auto, adapters}`;

export const devicesCommand = defineCommand({
  name: "devices",
  summary: "list the compute devices (execution providers, GPU adapters) and what auto picks",
  usage,
  flags: [JSON_FLAG],
  positionals: [],
  async run(c) {
    const r = await c.job("headshare/devices", {});
    if (c.args.flags.json) {
      const { provider: _none, ...rest } = r;
      await writeOut(JSON.stringify(rest));
      return 0;
    }
    const rows = r.devices.map((d) => [
      d.provider,
      d.available ? "yes" : "no",
      d.adapter ? adapterLabel(d.adapter) : d.provider === "cpu" ? "the CPU" : "-",
      d.reason ?? "",
    ]);
    const lines = [table(["provider", "works", "adapter", "note"], rows), "", `auto: ${computeText(r.auto)}`];
    const others = r.adapters.filter((a) => !r.devices.some((d) => d.adapter?.device === a.device));
    if (others.length) lines.push(`other Vulkan adapters listed: ${others.map(adapterLabel).join("; ")}`);
    await writeOut(lines.join("\n"));
    return 0;
  },
});
