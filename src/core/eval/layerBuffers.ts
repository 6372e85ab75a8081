/**
 * The buffers of the layer-streamed read, allocated once and reused by every layer: a byte arena
 * (one layer's tensors in their stored dtype, each 16-byte aligned) and one float32 array per
 * tensor (its widened values). When WebAssembly SIMD is available and they fit its 4 GiB memory
 * (a 7B–13B layer does), they live in the matcher's SIMD decoder (`../share/bf16wasm.ts`: arena =
 * its staging area, arrays = slices of its chunk), which widens BF16 and F16 eight lanes at a time;
 * otherwise they are plain typed arrays and `widenInto` widens. Either way the values are exact.
 *
 * A tensor of DIRECT_MIN_BYTES or more gets a slot DIRECT_PAD bytes longer, so that it can be read
 * with O_DIRECT (`TensorSource.readBytesDirect`): such a read lands at an aligned address inside the
 * slot, and `place` records where its bytes start.
 */
import { createBf16Decoder, type Bf16Decoder } from "../share/bf16wasm";
import { DIRECT_MIN_BYTES, DIRECT_PAD } from "../safetensors/directRead";
import { widenInto } from "../safetensors/dtype";

const ALIGN = 16;
const alignUp = (x: number): number => Math.ceil(x / ALIGN) * ALIGN;

type Widenable = "F32" | "F16" | "BF16";

export class LayerBuffers {
  /** Tensor i's whole slot of the arena (its bytes, plus DIRECT_PAD for a large one). */
  private readonly slots: Uint8Array[] = [];
  private readonly staging: Uint8Array;
  private readonly outs: Float32Array[] = [];
  /** Byte offset of tensor i in the arena, and float index of its array in the decoder's chunk. */
  private readonly at: number[] = [];
  private readonly index: number[] = [];
  private readonly decoder: Bf16Decoder | undefined;

  /** `bytes[i]`: tensor i's stored bytes; `values[i]`: its element count (0: it gets no reused float32 array). */
  constructor(
    readonly bytes: readonly number[],
    readonly values: readonly number[],
  ) {
    const slot = (b: number): number => alignUp(b >= DIRECT_MIN_BYTES ? b + DIRECT_PAD : b);
    const arena = bytes.reduce((a, b) => a + slot(b), 0);
    const floats = values.reduce((a, n) => a + alignUp(4 * n) / 4, 0);
    this.decoder = floats > 0 ? createBf16Decoder(floats, arena) : undefined;
    const staging = this.decoder?.staging ?? new Uint8Array(arena); // [arena] u8: one layer's stored bytes (+ padding)
    this.staging = staging;
    let o = 0;
    for (const b of bytes) {
      this.at.push(o);
      this.slots.push(staging.subarray(o, o + slot(b)));
      o += slot(b);
    }
    let f = 0;
    for (const n of values) {
      this.index.push(f);
      // [n] f32: a tensor's widened values (a slice of the decoder's chunk, or a plain array)
      this.outs.push(this.decoder ? this.decoder.chunk.subarray(f, f + n) : new Float32Array(n));
      f += alignUp(4 * n) / 4;
    }
  }

  /** Whether WebAssembly SIMD widens (else the JS loops). */
  get simd(): boolean {
    return !!this.decoder;
  }

  /** Whether these buffers hold a layer of these sizes. */
  fits(bytes: readonly number[], values: readonly number[]): boolean {
    return bytes.length === this.bytes.length && bytes.every((b, i) => b === this.bytes[i]) && values.every((n, i) => n === this.values[i]);
  }

  /** Where tensor i's stored bytes are (after `place`), or are read the ordinary way (after `reset`); `length` ≤ its bytes. */
  view(i: number, length = this.bytes[i]!): Uint8Array {
    return this.staging.subarray(this.at[i]!, this.at[i]! + Math.min(length, this.bytes[i]!));
  }

  /** Tensor i's whole slot: the region a direct read may use, or undefined when it has no padding. */
  region(i: number): Uint8Array | undefined {
    const s = this.slots[i]!;
    return s.byteLength > this.bytes[i]! ? s : undefined;
  }

  /** Tensor i's bytes are read the ordinary way, at the start of its slot: that view. */
  reset(i: number): Uint8Array {
    this.at[i] = this.slots[i]!.byteOffset - this.staging.byteOffset;
    return this.view(i);
  }

  /**
   * Tensor i's bytes (all, or a first part of them) were read into `data`, a view inside its slot
   * (a direct read). An odd start (the decoder reads 2-byte values from even offsets) is moved to
   * the start of the slot.
   */
  place(i: number, data: Uint8Array): void {
    const slot = this.slots[i]!;
    if (
      data.buffer !== slot.buffer ||
      data.byteOffset < slot.byteOffset ||
      data.byteOffset + data.byteLength > slot.byteOffset + slot.byteLength ||
      data.byteLength > this.bytes[i]!
    )
      throw new RangeError(`tensor ${i}: the bytes read are not inside its slot`);
    const start = data.byteOffset - this.staging.byteOffset;
    if (start % 2 !== 0) {
      slot.copyWithin(0, data.byteOffset - slot.byteOffset, data.byteOffset - slot.byteOffset + data.byteLength);
      this.reset(i);
      return;
    }
    this.at[i] = start;
  }

  /** Tensor i's stored values (all, or the first `count`) widened into its reused float32 array (exact): that array, or its first `count` values. */
  widen(i: number, dtype: Widenable, count = this.values[i]!): Float32Array {
    const out = this.outs[i]!.subarray(0, count);
    if (this.decoder && dtype === "BF16") this.decoder.widenStaged(count, this.index[i]!, this.at[i]!);
    else if (this.decoder && dtype === "F16") this.decoder.widenStagedF16(count, this.index[i]!, this.at[i]!);
    else widenInto(this.view(i, (count * this.bytes[i]!) / this.values[i]!), dtype, out);
    return out;
  }
}
