/**
 * Positioned reads that bypass the page cache (O_DIRECT), for large reads that overlap compute
 * (the layer-streamed eval reads layer l + 1 while layer l runs). On a file that is not cached, the
 * kernel's page-cache path costs CPU time in proportion to the bytes (about a CPU-second per GiB on
 * the 2-vCPU development VM: `cat` of a 3.5 GiB checkpoint, 3.9 s of system time; `dd iflag=direct`,
 * 0.13 s), and that time is taken from the onnxruntime threads the read is meant to hide behind. A
 * direct read also leaves the user's page cache alone (a 13 GB checkpoint does not evict it).
 *
 * O_DIRECT wants the buffer address, the file offset and the length aligned to the device's logical
 * block. The caller lends a scratch region of DIRECT_PAD more bytes than the tensor; the tensor's
 * byte range is widened to DIRECT_ALIGN boundaries and read in one call (one thread-pool job: it
 * goes on while onnxruntime holds the main thread) at an aligned address inside the region, and the
 * view of the region that holds the tensor is returned. JS cannot see an address, so the aligned
 * offsets of a buffer are found once by probing (a misaligned direct read fails at once with
 * EINVAL). Where there is no O_DIRECT (macOS, Windows, tmpfs: EINVAL at open) or the direct read
 * fails, nothing is returned and the caller reads the ordinary way.
 */
import fsSync from "node:fs";
import fs from "node:fs/promises";

/** Alignment of file offsets, lengths and buffer addresses: 4 KiB covers 512-byte and 4 KiB devices. */
export const DIRECT_ALIGN = 4096;
/** Extra bytes a scratch region needs beyond the tensor: the address search, the file offset's misalignment, the rounded-up length. */
export const DIRECT_PAD = 3 * DIRECT_ALIGN;
/** Tensors smaller than this read the ordinary way (the padding and the probe are not worth it). */
export const DIRECT_MIN_BYTES = 1 << 20;
/** Largest single read() call (a multiple of DIRECT_ALIGN); longer reads loop. */
const MAX_READ = 1 << 30;

/** The first offset of each buffer whose address is DIRECT_ALIGN-aligned (all are this + k·DIRECT_ALIGN). */
const alignedOffsets = new WeakMap<ArrayBufferLike, number>();

export class DirectReader {
  private constructor(private readonly fh: fs.FileHandle) {}

  /** A direct reader of `file`, or undefined where the platform or the file system has no O_DIRECT. */
  static async open(file: string): Promise<DirectReader | undefined> {
    const flag = (fsSync.constants as { O_DIRECT?: number }).O_DIRECT;
    if (!flag) return undefined;
    try {
      return new DirectReader(await fs.open(file, fsSync.constants.O_RDONLY | flag));
    } catch {
      return undefined;
    }
  }

  /**
   * Reads `length` bytes at file offset `position` into `region` (at least length + DIRECT_PAD
   * bytes, checked by the caller; all of them may be overwritten) and returns the view of `region` that holds them, or
   * undefined when the region's buffer has no usable aligned offset. Returns the bytes read from disk
   * too (the wanted ones plus the alignment). Throws on a read error (the caller falls back).
   */
  async readInto(position: number, length: number, region: Uint8Array): Promise<{ data: Uint8Array; fromDisk: number } | undefined> {
    const first = this.alignedOffset(region, position);
    if (first === undefined) return undefined;
    // the first aligned offset inside the region: the read starts there
    const b = region.byteOffset + ((((first - region.byteOffset) % DIRECT_ALIGN) + DIRECT_ALIGN) % DIRECT_ALIGN);
    const a0 = Math.floor(position / DIRECT_ALIGN) * DIRECT_ALIGN;
    const skip = position - a0;
    const total = Math.ceil((skip + length) / DIRECT_ALIGN) * DIRECT_ALIGN; // ≤ length + 2·ALIGN − 2
    const all = new Uint8Array(region.buffer, 0, region.byteOffset + region.byteLength);
    let done = 0;
    while (done < skip + length) {
      const { bytesRead: n } = await this.fh.read(all, b + done, Math.min(MAX_READ, total - done), a0 + done);
      // a short read ends only at the end of the file, which lies past the tensor: anything else is an error
      if (n <= 0 || (done + n < skip + length && n % DIRECT_ALIGN !== 0)) throw new Error(`short direct read at byte ${a0 + done}: ${n} bytes`);
      done += n;
    }
    return { data: new Uint8Array(region.buffer, b + skip, length), fromDisk: done };
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  /**
   * The first aligned offset of `region`'s buffer, probed once per buffer with 4 KiB direct reads of
   * `position`'s block at offsets inside `region` (the probe writes only there: the rest of the
   * buffer, such as the arrays of the layer that runs meanwhile, is never touched).
   */
  private alignedOffset(region: Uint8Array, position: number): number | undefined {
    const known = alignedOffsets.get(region.buffer);
    if (known !== undefined) return known;
    const all = new Uint8Array(region.buffer, 0, region.byteOffset + region.byteLength);
    const block = Math.floor(position / DIRECT_ALIGN) * DIRECT_ALIGN;
    // ArrayBuffers and WebAssembly memories are at least 16-byte aligned: one of these offsets is aligned
    for (let at = Math.ceil(region.byteOffset / 16) * 16; at < region.byteOffset + DIRECT_ALIGN; at += 16) {
      try {
        fsSync.readSync(this.fh.fd, all, at, DIRECT_ALIGN, block);
        alignedOffsets.set(region.buffer, at % DIRECT_ALIGN);
        return at % DIRECT_ALIGN;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EINVAL") throw e;
      }
    }
    return undefined;
  }
}
