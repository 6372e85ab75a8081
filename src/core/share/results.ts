/**
 * What writing a shared (or expanded) checkpoint produced (src/core/share/write.ts builds it): one zod
 * schema per shape, the TypeScript types inferred from them. The worker protocol
 * (src/protocol/workerResults.ts) validates results on receipt with these same schemas. Pure: the
 * extension host bundles this file.
 */
import * as z from "zod";

const count = z.number().int().nonnegative();

/** Parameters and bytes of one layer before and after sharing. */
export const layerAccountingSchema = z.object({
  layer: count,
  /** Units of this layer whose storage is dropped. */
  savedUnits: count,
  parametersBefore: count,
  /** Unique parameters after sharing (before − saved units × parameters per unit). */
  parametersAfter: count,
  bytesBefore: count,
  bytesAfter: count,
});
export type LayerAccounting = z.infer<typeof layerAccountingSchema>;

/** What `writeShared` / `expandCompact` wrote, with exact accounting. */
export const shareResultSchema = z.object({
  format: z.enum(["compact", "dense"]),
  outDir: z.string(),
  /** The weights file (single file) or the index json (sharded) written. */
  weightsPath: z.string(),
  /** Every file written, relative to outDir (weights, index, copied config/tokenizer files). */
  files: z.array(z.string()),
  ratio: z.number().min(0).max(1),
  selected: count,
  savedUnits: count,
  parametersPerUnit: count,
  bytesPerUnit: count,
  /** Parameters of every tensor before sharing. */
  parametersBefore: count,
  /** Unique parameters after sharing: before − savedUnits × parametersPerUnit (both formats). */
  parametersAfter: count,
  /** Parameters actually stored in the output (compact: = parametersAfter; dense: = before). */
  parametersStored: count,
  /** Tensor data bytes of the input and of the output (headers excluded). */
  bytesBefore: count,
  bytesAfter: count,
  /** File sizes on disk (weights files incl. headers; index excluded) of the input and output. */
  fileBytesBefore: count,
  fileBytesAfter: count,
  /** Per layer (unique parameters/bytes); tensors outside layers are in `globals`. */
  perLayer: z.array(layerAccountingSchema),
  globals: z.object({ parameters: count, bytes: count }),
  seconds: z.number().nonnegative(),
});
export type ShareResult = z.infer<typeof shareResultSchema>;
