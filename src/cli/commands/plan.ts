/** `headshare plan --match FILE --ratio A`: the sharing plan, a pure function of a match table (in-process). */
import fs from "node:fs/promises";
import { parseMatchTable } from "../../core/share/matchTable";
import { planSharing } from "../../core/share/plan";
import type { SharingPlan } from "../../core/share/types";
import { defineCommand } from "../command";
import { int, keyValues, pct, table, writeOut } from "../output";
import { absolute } from "../runJob";
import { JSON_FLAG, RATIO_FLAG } from "./matchFlags";

const usage = `usage: headshare plan --match FILE --ratio A [--json] [--all] [--debug]

Selects N = floor(A·L·U) units to share from a match table (method.md §3): the N best-scoring
targets, each resolved along its source chain to its root (the first unselected unit), so exactly N
units are dropped. A = 0 shares nothing; A above (L−1)/L is refused.

  --match FILE  a match table written by headshare match --out, or the paper's released table
                (rows [layer, head, source_layer, source_head, cosine])
  --ratio A     the sharing ratio, a fraction of all L·U units (e.g. 0.3)
  --json        print the plan as one JSON object
  --all         list every selected target (text mode lists the first 30 otherwise)`;

/** The plan's summary lines (also used by share and demo). */
export function planFacts(p: SharingPlan): [string, string][] {
  const L = p.layers,
    U = p.unitsPerLayer;
  const facts: [string, string][] = [
    ["ratio", `${p.ratio} of ${int(L * U)} units (${L} layers × ${U}; ${p.strategy}, ${p.granularity})`],
    ["selected", `${int(p.selected)} targets, ${int(p.savedUnits)} units saved, ${int(p.chainedTargets)} chained (also a source of another selected target)`],
    ["cut-off score", p.cutoffScore === null ? "-" : p.cutoffScore.toFixed(6)],
  ];
  if (p.parametersBefore !== null && p.parametersAfter !== null) {
    facts.push([
      "parameters",
      `${int(p.parametersBefore)} → ${int(p.parametersAfter)} (${pct(1 - p.parametersAfter / Math.max(1, p.parametersBefore), 2)} fewer)`,
    ]);
  }
  return facts;
}

export function renderPlan(p: SharingPlan, all: boolean): string {
  const rows = p.targets.map((t) => [
    `${t.layer}.${t.unit}`,
    `${t.sourceLayer}.${t.sourceUnit}`,
    `${t.rootLayer}.${t.rootUnit}`,
    t.score.toFixed(6),
    t.rootCosine === null ? "-" : t.rootCosine.toFixed(6),
  ]);
  const shown = all || rows.length <= 30 ? rows : [...rows.slice(0, 30), ["…", `${rows.length - 30} more (--all)`, "", "", ""]];
  return [keyValues(planFacts(p)), "", table(["target", "source", "root", "score", "root cosine"], shown, [false, false, false, true, true])].join("\n");
}

export const planCommand = defineCommand({
  name: "plan",
  summary: "select the units to share at a ratio from a match table",
  usage,
  flags: [{ name: "match", type: "string", short: "m" }, RATIO_FLAG, JSON_FLAG, { name: "all", type: "boolean" }],
  positionals: [],
  async run(c) {
    const a = c.args;
    const file = absolute(c.required("match", "--match FILE is required") as string);
    const ratio = c.required("ratio", "--ratio A is required (e.g. --ratio 0.3)") as number;
    let text: string;
    try {
      text = await fs.readFile(file, "utf8");
    } catch (e) {
      throw Object.assign(
        new Error(
          `${file}: cannot read the match table (${(e as { code?: string }).code === "ENOENT" ? "it does not exist" : String(e)}); write one with headshare match --out`,
        ),
        { code: "io" },
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw Object.assign(new Error(`${file}: is not JSON (${e instanceof Error ? e.message : String(e)}); pass a table written by headshare match --out`), {
        code: "bad-json",
      });
    }
    const plan = planSharing(parseMatchTable(json, file), ratio);
    await writeOut(a.flags.json ? JSON.stringify(plan) : renderPlan(plan, a.flags.all === true));
    return 0;
  },
});
