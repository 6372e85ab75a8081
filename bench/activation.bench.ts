/**
 * Activation time of the installed extension in a real VS Code, as VS Code itself measures it:
 * `node scripts/test-vscode.mjs installed` installs the production .vsix into code-server's bundled
 * VS Code, opens a workspace holding a model (so `workspaceContains:**\/*.safetensors` activates the
 * extension while the window opens) and reads "Developer: Show Running Extensions" (VS Code's
 * ActivationTimes: loading extension.js + the activate() call). Each sample is a fresh server and
 * browser; the test writes what it read to a JSON file (HEADSHARE_ACTIVATION_OUT) that this bench
 * collects. Needs the runtime of scripts/setup-vscode-runtime.sh; without it the bench says so and
 * records nothing.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as z from "zod";
import { repoRoot } from "./machine";
import type { Bench, BenchResult } from "./run";
import { fmtSummary, summarize, type Summary } from "./stats";

/** What scripts/test-vscode.mjs writes for one activation it read. */
const activationSample = z.object({
  extension: z.string(),
  text: z.string(),
  ms: z.number().nonnegative(),
  startup: z.boolean(),
  extensionJsBytes: z.number().int().positive(),
  vscode: z.string(),
  node: z.string(),
  loadAverage: z.array(z.number()),
  date: z.string(),
});

const activationResult = z.object({
  activationMs: z.custom<Summary>((v) => typeof v === "object" && v !== null && typeof (v as Summary).median === "number"),
  samples: z.array(activationSample),
});

export const activationBench: Bench = {
  name: "vscode-activation",
  async run({ quick }): Promise<BenchResult | void> {
    const root = repoRoot();
    const n = quick ? 1 : 3;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "headshare-activation-"));
    try {
      const samples: z.infer<typeof activationSample>[] = [];
      for (let i = 0; i < n; i++) {
        const out = path.join(dir, `activation-${i}.json`);
        const r = spawnSync(process.execPath, [path.join(root, "scripts/test-vscode.mjs"), "installed"], {
          cwd: root,
          env: { ...process.env, HEADSHARE_ACTIVATION_OUT: out },
          encoding: "utf8",
          stdio: ["ignore", "pipe", "inherit"],
        });
        const skipped = /SKIP/.exec(r.stdout ?? "");
        if (r.status !== 0) throw new Error(`scripts/test-vscode.mjs installed failed (exit ${r.status ?? r.signal}):\n${(r.stdout ?? "").slice(-3000)}`);
        if (!fs.existsSync(out)) {
          console.log(
            `vscode-activation: not measured (${
              skipped
                ? (r.stdout ?? "")
                    .trim()
                    .split("\n")
                    .find((l) => l.includes("SKIP"))
                : "the test wrote no activation file"
            })`,
          );
          return;
        }
        const s = activationSample.parse(JSON.parse(fs.readFileSync(out, "utf8")));
        console.log(`sample ${i + 1}/${n}: ${s.text} (load ${s.loadAverage.join(" / ")})`);
        samples.push(s);
      }
      return { activationMs: summarize(samples.map((s) => s.ms)), samples };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
  readme(result) {
    const r = activationResult.parse(result);
    const s = r.samples[0]!;
    const rows = [
      "| extension.js (production .vsix) | VS Code | activated | activation (load + activate()), ms |",
      "| --- | --- | --- | ---: |",
      `| ${s.extensionJsBytes.toLocaleString("en-US")} B | ${s.vscode} (code-server, Node ${s.node}) | ${r.samples.every((x) => x.startup) ? "at startup (`workspaceContains`)" : "on a command"} | ${fmtSummary(r.activationMs, 0)} |`,
    ];
    return {
      "": `${rows.join("\n")}\n\nEach sample, as the Running Extensions editor showed it: ${r.samples.map((x) => `"${x.text}" (load ${x.loadAverage[0]})`).join(", ")}.`,
    };
  },
};
