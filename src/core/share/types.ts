/**
 * Data types of DirectShare (../shared/docs/method.md §2–§4, docs/method.md here). Pure data:
 * these cross the worker and webview boundaries as JSON.
 */
import type { Granularity } from "../model/types";

/** Which projections are compared to find similar units (the paper's choice: qk). */
export const STRATEGIES = ["q", "k", "v", "qk", "qkv"] as const;
export type Strategy = (typeof STRATEGIES)[number];

/** One target candidate: its best strictly-lower-layer source. */
export interface MatchEntry {
  readonly layer: number;
  readonly unit: number;
  readonly sourceLayer: number;
  readonly sourceUnit: number;
  /** Cosine of the concatenated strategy vectors. */
  readonly score: number;
}

/** The match table: every unit of layers 1..L-1 with its best source. Versioned JSON. */
export interface MatchTable {
  readonly format: "headshare.match";
  readonly version: 1;
  readonly strategy: Strategy;
  readonly granularity: Granularity;
  readonly layers: number; // L
  readonly unitsPerLayer: number; // U
  /** Parameters a unit owns (what sharing one saves), when known from the checkpoint. */
  readonly parametersPerUnit: number | null;
  /** Bytes a unit's stored slices take (in the checkpoint's dtype), when known. */
  readonly bytesPerUnit: number | null;
  /** Parameters of the whole model, when known. */
  readonly parameters: number | null;
  /** Sorted by (layer, unit); exactly (L-1)·U entries. */
  readonly entries: readonly MatchEntry[];
  /**
   * Cosine between every pair (target, any lower unit), when kept (small models only):
   * lowerCosines[i] for entries[i] is a flat array over (sourceLayer, sourceUnit) with
   * sourceLayer < layer, i.e. length layer·U. Lets the plan report the cosine to a chain's root.
   */
  readonly lowerCosines?: readonly (readonly number[])[];
  /** Run facts: where it came from and what it cost. */
  readonly source?: {
    readonly model?: string;
    readonly size?: number;
    readonly mtimeMs?: number;
    readonly provider?: string;
    /** The GPU adapter the provider ran on (`NVIDIA H100 80GB HBM3 (NVIDIA, vulkan)`), when it had one. */
    readonly adapter?: string;
    readonly seconds?: number;
    readonly bytesRead?: number;
    /** Match threads that computed it (1: the calling thread). */
    readonly threads?: number;
  };
}

/** One selected target in a plan. */
export interface PlanTarget {
  readonly layer: number;
  readonly unit: number;
  readonly sourceLayer: number;
  readonly sourceUnit: number;
  /** The first unselected unit along the source chain: whose weights the target uses. */
  readonly rootLayer: number;
  readonly rootUnit: number;
  readonly score: number;
  /** Cosine between target and root (= score when root is the source); null when unknown. */
  readonly rootCosine: number | null;
}

/** The sharing plan: a pure function of a match table and a ratio. Versioned JSON. */
export interface SharingPlan {
  readonly format: "headshare.plan";
  readonly version: 1;
  readonly ratio: number;
  readonly strategy: Strategy;
  readonly granularity: Granularity;
  readonly layers: number;
  readonly unitsPerLayer: number;
  /** N = floor(ratio · L · U). */
  readonly selected: number;
  /** Units whose storage is dropped (= selected). */
  readonly savedUnits: number;
  /** Selected targets that are also the source of another selected target. */
  readonly chainedTargets: number;
  /** Lowest score among the selected (the cut line), null when nothing is selected. */
  readonly cutoffScore: number | null;
  readonly parametersBefore: number | null;
  readonly parametersAfter: number | null;
  /** Sorted by (layer, unit). */
  readonly targets: readonly PlanTarget[];
  /** Per layer: unit → the unit (in the same or a lower layer) whose weights it uses: [layer, unit]. */
  readonly storedFrom: readonly (readonly (readonly [number, number])[])[];
}

/** What `writeShared` / `expandCompact` wrote, with exact accounting: zod schemas in ./results.ts (the protocol validates with them). */
export type { LayerAccounting, ShareResult } from "./results";
