/**
 * The head's weight (lm_head, or the tied embedding) read chunk by chunk of vocabulary rows into
 * two reused slots: the chunk the head runs on, and the next one, read meanwhile. Each slot is a
 * `LayerBuffers` of one chunk (its stored bytes, padded for O_DIRECT, and its float32 values), so a
 * 128k vocabulary's eight chunks per pass touch the same pages every time (a fresh array per chunk
 * paid its page faults on every chunk), bypass the page cache (the kernel's copy would take CPU from
 * the head's Gemm) and widen with the SIMD decoder.
 *
 *   chunk k: rows [k·V_c, (k+1)·V_c) of [V, d] → slot k mod 2 → float32 [rows, d]
 *
 * The float32 rows `read` returns are valid until the read after next (the caller awaits chunk k's
 * logits before it asks for chunk k + 2). Other dtypes than F32, F16 and BF16 are converted into
 * fresh arrays.
 */
import type { DType, TensorSource } from "../safetensors/types";
import { DTYPE_SIZE, numel } from "../safetensors/dtype";
import { LayerBuffers } from "./layerBuffers";

export class HeadRows {
  private readonly slots: LayerBuffers[] = [];
  private count = 0;
  private readonly rowBytes: number;
  private readonly rowValues: number;
  private readonly dtype: DType;

  /** Bytes both slots hold per vocabulary row: each its stored bytes and float32 values (the memory budget's h). */
  static bytesPerRow(source: TensorSource, tensor: string): number {
    const info = source.info(tensor);
    return 2 * (DTYPE_SIZE[info.dtype] + 4) * numel(info.shape.slice(1));
  }

  constructor(
    private readonly source: TensorSource,
    private readonly tensor: string,
    /** Rows per chunk (the memory budget's vocabulary chunk). */
    private readonly chunkRows: number,
  ) {
    const info = source.info(tensor);
    this.dtype = info.dtype;
    this.rowValues = numel(info.shape.slice(1));
    this.rowBytes = (info.dataOffsets[1] - info.dataOffsets[0]) / info.shape[0]!;
  }

  /** Rows [begin, end) (at most a chunk) as float32 [end − begin, d], in the next slot. */
  async read(begin: number, end: number): Promise<Float32Array> {
    const dtype = this.dtype;
    if (end - begin > this.chunkRows) throw new RangeError(`head rows [${begin}, ${end}) exceed the chunk of ${this.chunkRows}`);
    if (dtype !== "F32" && dtype !== "F16" && dtype !== "BF16") return this.source.readRowsF32(this.tensor, begin, end);
    const i = this.count++ % 2;
    const slot = (this.slots[i] ??= new LayerBuffers([this.chunkRows * this.rowBytes], [this.chunkRows * this.rowValues]));
    const from = begin * this.rowBytes,
      length = (end - begin) * this.rowBytes;
    const region = slot.region(0);
    const direct = region && this.source.readBytesDirect ? await this.source.readBytesDirect(this.tensor, region, from, from + length) : undefined;
    if (direct) slot.place(0, direct);
    else {
      const into = slot.reset(0).subarray(0, length);
      if (this.source.readBytesInto) await this.source.readBytesInto(this.tensor, into, from);
      else into.set(await this.source.readBytes(this.tensor, from, from + length));
    }
    return slot.widen(0, dtype, (end - begin) * this.rowValues);
  }
}
