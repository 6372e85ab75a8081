import type { FlagSpec } from "../args";

/** How units are matched: shared by match, share, sweep and postshare. */
export const MATCH_FLAGS: readonly FlagSpec[] = [
  { name: "strategy", type: "string", choices: ["q", "k", "v", "qk", "qkv"] },
  { name: "granularity", type: "string", choices: ["group", "query-head"] },
];

/** How a shared checkpoint is written: shared by share and postshare. */
export const WRITE_FLAGS: readonly FlagSpec[] = [
  { name: "format", type: "string", choices: ["compact", "dense"] },
  { name: "force", type: "boolean" },
  { name: "wait", type: "boolean" },
];
