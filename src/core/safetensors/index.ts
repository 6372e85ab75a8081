/** Public API of the safetensors engine. */
export type { DType, TensorInfo, TensorSource, TensorToWrite } from "./types";
export { SafetensorsError, type SafetensorsErrorCode } from "./errors";
export {
  DTYPES,
  DTYPE_SIZE,
  isDType,
  isF32Convertible,
  numel,
  bytesToF32,
  f32ToBytes,
  f16BitsToNumber,
  numberToF16Bits,
  bf16BitsToNumber,
  numberToBf16Bits,
} from "./dtype";
export { MAX_HEADER_BYTES, parseHeader, parseHeaderLength, type ParsedHeader } from "./header";
export { openSafetensors } from "./reader";
export { FOLLOW_SYMLINKS_ENV, assertInsideFolder, containmentRoot, followSymlinksConsent, setFollowSymlinks, type ContainOptions } from "./contained";
export { INDEX_SUFFIX, openShardedSafetensors, openTensorSource, readIndex, writeShardedSafetensors, type ShardedWriteResult } from "./sharded";
export { cleanStaleTemps, encodeHeader, tempPathFor, writeSafetensors, writeTextAtomic, type WriteOptions, type WriteResult } from "./writer";
