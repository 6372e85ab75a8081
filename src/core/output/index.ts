/** The output-folder module: staging names, atomic writes and swaps, path rules, the writer lock, stale cleanup. */
export { copyFileAtomic, writeFileAtomic } from "./atomic";
export { cleanStale, cleanStaleTemps, type CleanReport } from "./clean";
export { OutputError, type OutputErrorCode } from "./errors";
export { checkOutputPath, stageOutputFolder, type StageOptions, type StagedFolder } from "./folder";
export { checkNotLocked, LOCK_PREFIX, lockHolder, lockOutput, lockPathFor, type LockInfo, type OutputLock, type WaitingPhase } from "./lock";
export { parseTempName, TEMP_PREFIX, tempPathFor } from "./names";
export { myOwnerTag, ownerLiveness, parseOwner, formatOwner, type OwnerTag } from "./owner";
export { isReplaceableEntry, outputProblem } from "./rules";
export { checkFreeSpace, freeBytes } from "./space";
export { addLiveStaging, removeLiveStaging, watchLiveStaging } from "./live";
