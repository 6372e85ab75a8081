/** Every fuzz target, in run order. Each file adds its targets here. */
import type { FuzzTarget } from "../harness";
import { safetensorsTargets } from "./safetensors";
import { compactTarget } from "./compact";
import { modelTargets } from "./model";
import { protocolTargets } from "./protocol";
import { shareTargets } from "./share";
import { sharedSeedTarget } from "./sharedSeeds";

export const ALL_TARGETS: readonly FuzzTarget<any>[] = [
  ...safetensorsTargets,
  sharedSeedTarget,
  ...shareTargets,
  ...modelTargets,
  compactTarget,
  ...protocolTargets,
];
