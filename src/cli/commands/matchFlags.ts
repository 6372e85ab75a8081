import type { FlagSpec } from "../args";
import { GRANULARITIES } from "../../core/model/types";
import { STRATEGIES } from "../../core/share/types";

/** --ratio A: the fraction of all units to share. */
export const RATIO_FLAG: FlagSpec = { name: "ratio", type: "number", min: 0, max: 1 };
/** --strategy: which projections' similarity picks the pairs. */
export const STRATEGY_FLAG: FlagSpec = { name: "strategy", type: "string", choices: STRATEGIES };
/** --json: one JSON object on stdout instead of text. */
export const JSON_FLAG: FlagSpec = { name: "json", type: "boolean" };
/** --providers LIST: execution providers to try, or auto. */
export const PROVIDERS_FLAG: FlagSpec = { name: "providers", type: "string" };

/** --wait: when another headshare run writes the same output folder, wait for it instead of refusing. */
export const WAIT_FLAG: FlagSpec = { name: "wait", type: "boolean" };

/** How units are matched: shared by match, share, sweep and postshare. */
export const MATCH_FLAGS: readonly FlagSpec[] = [STRATEGY_FLAG, { name: "granularity", type: "string", choices: GRANULARITIES }];

/** How a shared checkpoint is written: shared by share and postshare. */
export const WRITE_FLAGS: readonly FlagSpec[] = [
  { name: "format", type: "string", choices: ["compact", "dense"] },
  { name: "force", type: "boolean" },
  WAIT_FLAG,
];
