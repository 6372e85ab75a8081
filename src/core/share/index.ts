/** Public API of DirectShare: match table, plan, compact/dense outputs. */
export type * from "./types";
export { PlanError, MatchTableError, MatchError, ShareError } from "./errors";
export { planSharing, selectedCount, maxRatio } from "./plan";
export { parseMatchTable, serializeMatchTable } from "./matchTable";
export { parseSharingPlan } from "./planJson";
export { computeMatchTable, unitCost, type MatchOptions, type MatchProgress } from "./match";
export { writeShared, expandCompact, ownedProjections, type WriteSharedOptions, type ExpandOptions, type ShareProgress } from "./write";
