/** Public API of the model layer. */
export * from "./types";
export { ModelError, type ModelErrorCode } from "./errors";
export { ConfigReader, readConfig, type RawConfig } from "./config";
export { ADAPTERS, adapterForFamily, isBufferTensor, selectAdapter, type Adapter, type AdapterContext } from "./adapters";
export {
  ORIGINAL_SHAPES_METADATA_KEY,
  PLAN_METADATA_KEY,
  SUPPORTED_ARCHITECTURES,
  buildSpec,
  openCheckpoint,
  resolveCheckpointPaths,
  type Checkpoint,
  type CompactInfo,
} from "./checkpoint";
export { UNIT_PROJS, readSlice, readSliceStored, readUnit, transpose, unitLayout, type UnitProj } from "./units";
export { gaussian, mulberry32, writeSyntheticModel, type SyntheticOptions } from "./synthetic";
export { inspectCheckpoint, summarizePlan, type CheckpointSummary, type PlanSummary, type TensorRow } from "./summary";
