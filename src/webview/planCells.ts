/**
 * A sharing plan drawn on the layer × unit grid: which cells are shared targets (directly, or through a
 * chain to a root), which are roots, the lines from a focused cell to its source and root, and the one
 * sentence that describes a cell. The sharing map and the report's weight map both use it, so they
 * mark and describe cells the same way.
 */
import { planSharing } from "../core/share/plan";
import type { MatchTable, PlanTarget, SharingPlan } from "../core/share/types";
import { bytes, int, unitName } from "./format";
import type { HeatmapModel, Link } from "./heatmap";

export class PlanCells {
  plan!: SharingPlan;
  private byCell = new Map<number, PlanTarget>();
  private rootUse = new Map<number, number>();

  constructor(
    readonly table: MatchTable,
    ratio: number,
  ) {
    this.setRatio(ratio);
  }

  /** Re-plans at `ratio` (throws the planner's message for an impossible ratio). */
  setRatio(ratio: number): void {
    const plan = planSharing(this.table, ratio);
    const U = this.table.unitsPerLayer;
    this.plan = plan;
    this.byCell = new Map(plan.targets.map((p) => [p.layer * U + p.unit, p]));
    this.rootUse = new Map();
    for (const p of plan.targets) this.rootUse.set(p.rootLayer * U + p.rootUnit, (this.rootUse.get(p.rootLayer * U + p.rootUnit) ?? 0) + 1);
  }

  isSelected(layer: number, unit: number): boolean {
    return this.byCell.has(layer * this.table.unitsPerLayer + unit);
  }

  /** "chained": a target whose best source is itself shared, so it uses the chain's root. */
  mark(r: number, c: number): "selected" | "chained" | "root" | null {
    const U = this.table.unitsPerLayer;
    const p = this.byCell.get(r * U + c);
    if (p) {
      const e = this.table.entries[(r - 1) * U + c]!;
      return p.rootLayer !== e.sourceLayer || p.rootUnit !== e.sourceUnit ? "chained" : "selected";
    }
    return this.rootUse.has(r * U + c) ? "root" : null;
  }

  links(r: number, c: number): Link[] {
    const t = this.table,
      U = t.unitsPerLayer;
    if (r === 0) return [];
    const e = t.entries[(r - 1) * U + c]!;
    const p = this.byCell.get(r * U + c);
    const out: Link[] = [];
    if (!p || p.rootLayer !== e.sourceLayer || p.rootUnit !== e.sourceUnit) out.push({ to: [e.sourceLayer, e.sourceUnit], kind: "source" });
    if (p) out.push({ to: [p.rootLayer, p.rootUnit], kind: "root" });
    return out;
  }

  describe(r: number, c: number): string {
    const t = this.table,
      U = t.unitsPerLayer;
    const uses = this.rootUse.get(r * U + c);
    const usedBy = uses ? ` Root of ${uses} selected target${uses > 1 ? "s" : ""}.` : "";
    if (r === 0) return `${unitName(r, c)}: layer 0 has no lower layer, never a target.${usedBy}`;
    const e = t.entries[(r - 1) * U + c]!;
    const p = this.byCell.get(r * U + c);
    let s = `${unitName(r, c)}: best source ${unitName(e.sourceLayer, e.sourceUnit)}, score ${e.score.toFixed(4)}.`;
    if (p) {
      s += ` Selected: uses ${unitName(p.rootLayer, p.rootUnit)}'s weights`;
      if (p.rootLayer !== e.sourceLayer || p.rootUnit !== e.sourceUnit) s += ` (through a chain: its source is shared too)`;
      s += p.rootCosine !== null ? ` (cosine to root ${p.rootCosine.toFixed(4)}).` : ".";
      if (t.bytesPerUnit !== null) s += ` Saves ${bytes(t.bytesPerUnit)}`;
      if (t.parametersPerUnit !== null) s += `${t.bytesPerUnit !== null ? "," : " Saves"} ${int(t.parametersPerUnit)} parameters.`;
    } else {
      s += ` Not selected${this.plan.cutoffScore !== null ? ` (cut at ${this.plan.cutoffScore.toFixed(4)})` : ""}.`;
    }
    return s + usedBy;
  }

  /** The heatmap's view of this plan over the best-match scores. */
  heatmapModel(title = "Best-match cosine per unit"): HeatmapModel {
    const t = this.table,
      U = t.unitsPerLayer;
    let lo = Infinity,
      hi = -Infinity;
    for (const e of t.entries) {
      lo = Math.min(lo, e.score);
      hi = Math.max(hi, e.score);
    }
    if (!Number.isFinite(lo)) {
      lo = 0;
      hi = 1;
    }
    return {
      rows: t.layers,
      cols: U,
      title,
      rowName: "layer",
      colName: "unit",
      domain: [lo, hi],
      value: (r, c) => (r === 0 ? null : t.entries[(r - 1) * U + c]!.score),
      mark: (r, c) => this.mark(r, c),
      links: (r, c) => this.links(r, c),
      describe: (r, c) => this.describe(r, c),
    };
  }

  /** "6 of 20 units shared = ⌊30% × 20⌋; layer 0's 4 units are never targets, so 16 are candidates". */
  arithmetic(ratio: number): string {
    const t = this.table,
      total = t.layers * t.unitsPerLayer;
    return `${int(this.plan.selected)} of ${int(total)} units shared = ⌊${(ratio * 100).toFixed(0)}% × ${int(total)}⌋; layer 0's ${int(t.unitsPerLayer)} units are never targets, so ${int(t.entries.length)} are candidates`;
  }
}
