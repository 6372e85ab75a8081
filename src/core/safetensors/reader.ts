/**
 * One `.safetensors` file as a TensorSource: the header is read and validated on open; tensor
 * data is read on demand with positioned reads (never the whole file), and `bytesRead` counts
 * every byte read from disk, header included.
 */
import fsSync from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { DIRECT_MIN_BYTES, DIRECT_PAD, DirectReader } from "./directRead";
import { DTYPE_SIZE, bytesToF32, isF32Convertible } from "./dtype";
import { SafetensorsError } from "./errors";
import { parseHeader, parseHeaderLength } from "./header";
import { fileKey, markClosed, markOpen } from "./openFiles";
import type { TensorInfo, TensorSource } from "./types";

/** Largest single read() call; longer reads loop. */
const MAX_READ = 1 << 30;

function ioError(file: string, what: string, e: unknown): SafetensorsError {
  const why = e instanceof Error ? e.message : String(e);
  return new SafetensorsError("io", file, `${what}: ${why}`);
}

class FileSource implements TensorSource {
  private readonly byName: Map<string, TensorInfo>;
  private closed = false;
  private read = 0;
  /** The O_DIRECT reader, opened on the first direct read; resolves to undefined where there is none (or after it failed). */
  private direct: Promise<DirectReader | undefined> | undefined;
  constructor(
    readonly path: string,
    private readonly fh: fs.FileHandle,
    private readonly key: string,
    readonly tensors: readonly TensorInfo[],
    readonly metadata: Readonly<Record<string, string>>,
    private readonly dataStart: number,
    headerBytes: number,
  ) {
    this.byName = new Map(tensors.map((t) => [t.name, t]));
    this.read = headerBytes;
  }

  get bytesRead(): number {
    return this.read;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (!t) throw new SafetensorsError("missing-tensor", this.path, `no tensor named "${name}" in this file (it has ${this.tensors.length} tensors)`);
    return t;
  }

  /** The file offset of bytes [byteBegin, byteEnd) of a tensor (default: all of it) and their length; refused when outside it. */
  private range(name: string, byteBegin: number, byteEnd?: number): { position: number; length: number } {
    const t = this.info(name);
    const size = t.dataOffsets[1] - t.dataOffsets[0];
    const end = byteEnd ?? size;
    if (!Number.isSafeInteger(byteBegin) || !Number.isSafeInteger(end) || byteBegin < 0 || end < byteBegin || end > size) {
      throw new SafetensorsError("bad-range", this.path, `tensor "${name}": byte range [${byteBegin}, ${end}) is outside its ${size} bytes`);
    }
    return { position: this.dataStart + t.dataOffsets[0] + byteBegin, length: end - byteBegin };
  }

  async readBytes(name: string, byteBegin = 0, byteEnd?: number): Promise<Uint8Array> {
    const r = this.range(name, byteBegin, byteEnd);
    return this.readAt(r.position, r.length);
  }

  async readBytesInto(name: string, out: Uint8Array, byteBegin = 0): Promise<void> {
    const r = this.range(name, byteBegin, byteBegin + out.byteLength);
    await this.readAt(r.position, r.length, out);
  }

  async readBytesDirect(name: string, region: Uint8Array, byteBegin = 0, byteEnd?: number): Promise<Uint8Array | undefined> {
    const { position, length: size } = this.range(name, byteBegin, byteEnd);
    if (size < DIRECT_MIN_BYTES) return undefined;
    if (region.byteLength < size + DIRECT_PAD)
      throw new RangeError(`tensor "${name}": a direct read of ${size} bytes needs a region of ${size + DIRECT_PAD}, not ${region.byteLength}`);
    if (this.closed) throw new SafetensorsError("closed", this.path, "read after close(); open the file again");
    this.direct ??= DirectReader.open(this.path);
    const d = await this.direct;
    if (!d) return undefined;
    try {
      const r = await d.readInto(position, size, region);
      if (r) this.read += r.fromDisk;
      return r?.data;
    } catch {
      // this file reads the ordinary way from now on (a direct read that fails once is not tried again)
      this.direct = Promise.resolve(undefined);
      await d.close().catch(() => undefined);
      return undefined;
    }
  }

  async readStridedBytes(name: string, byteBegin: number, chunkBytes: number, strideBytes: number, count: number): Promise<Uint8Array> {
    const t = this.info(name);
    const size = t.dataOffsets[1] - t.dataOffsets[0];
    const ok =
      [byteBegin, chunkBytes, strideBytes, count].every((x) => Number.isSafeInteger(x) && x >= 0) &&
      (count === 0 || ((chunkBytes <= strideBytes || count === 1) && byteBegin + (count - 1) * strideBytes + chunkBytes <= size));
    if (!ok) {
      throw new SafetensorsError(
        "bad-range",
        this.path,
        `tensor "${name}": ${count} chunks of ${chunkBytes} bytes every ${strideBytes} bytes from ${byteBegin} do not fit its ${size} bytes`,
      );
    }
    if (this.closed) throw new SafetensorsError("closed", this.path, "read after close(); open the file again");
    const out = new Uint8Array(count * chunkBytes); // [count, chunkBytes] bytes
    const base = this.dataStart + t.dataOffsets[0] + byteBegin;
    // Synchronous positioned reads: thousands of small chunks cost microseconds each this way,
    // against tens of microseconds per promise-based read; the event loop is held only briefly.
    try {
      for (let i = 0; i < count; i++) {
        let done = 0;
        while (done < chunkBytes) {
          const n = fsSync.readSync(this.fh.fd, out, i * chunkBytes + done, chunkBytes - done, base + i * strideBytes + done);
          if (n === 0)
            throw new SafetensorsError(
              "io",
              this.path,
              `unexpected end of file at byte ${base + i * strideBytes + done}; the file changed or was truncated while open`,
            );
          done += n;
          this.read += n;
        }
      }
    } catch (e) {
      if (e instanceof SafetensorsError) throw e;
      throw ioError(this.path, "read failed", e);
    }
    return out;
  }

  async readRowsF32(name: string, rowBegin: number, rowEnd: number): Promise<Float32Array> {
    const t = this.info(name);
    if (t.shape.length < 1) throw new SafetensorsError("bad-range", this.path, `tensor "${name}" is a scalar; it has no rows`);
    const rows = t.shape[0]!;
    if (!Number.isSafeInteger(rowBegin) || !Number.isSafeInteger(rowEnd) || rowBegin < 0 || rowEnd < rowBegin || rowEnd > rows) {
      throw new SafetensorsError("bad-range", this.path, `tensor "${name}": rows [${rowBegin}, ${rowEnd}) are outside its ${rows} rows`);
    }
    this.assertFloat(t);
    let rowElems = 1;
    for (let i = 1; i < t.shape.length; i++) rowElems *= t.shape[i]!;
    const rowBytes = rowElems * DTYPE_SIZE[t.dtype];
    return bytesToF32(await this.readBytes(name, rowBegin * rowBytes, rowEnd * rowBytes), t.dtype);
  }

  async readF32(name: string): Promise<Float32Array> {
    const t = this.info(name);
    this.assertFloat(t);
    return bytesToF32(await this.readBytes(name), t.dtype);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    markClosed(this.key);
    const direct = await this.direct?.catch(() => undefined);
    await direct?.close().catch(() => undefined);
    await this.fh.close();
  }

  private assertFloat(t: TensorInfo): void {
    if (!isF32Convertible(t.dtype)) {
      throw new SafetensorsError("not-float", this.path, `tensor "${t.name}" is ${t.dtype}, which headshare can inspect but not convert to float32`);
    }
  }

  /** Reads `length` bytes at `position` into `into` (a buffer of exactly that size) or a new buffer. */
  private async readAt(position: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    if (this.closed) throw new SafetensorsError("closed", this.path, "read after close(); open the file again");
    const out = into ?? new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const want = Math.min(MAX_READ, length - done);
      let n: number;
      try {
        ({ bytesRead: n } = await this.fh.read(out, done, want, position + done));
      } catch (e) {
        throw ioError(this.path, "read failed", e);
      }
      if (n === 0)
        throw new SafetensorsError("io", this.path, `unexpected end of file at byte ${position + done}; the file changed or was truncated while open`);
      done += n;
      this.read += n;
    }
    return out;
  }
}

/** Reads exactly `length` bytes at `position` or fewer at end of file. */
async function readExact(fh: fs.FileHandle, length: number, position: number): Promise<Uint8Array> {
  const buf = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, Math.min(MAX_READ, length - done), position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === length ? buf : buf.subarray(0, done);
}

/** Opens and validates one safetensors file. Reads only its 8-byte prefix and JSON header. */
export async function openSafetensors(file: string): Promise<TensorSource> {
  const abs = path.resolve(file);
  let fh: fs.FileHandle;
  try {
    // Checked before open(): opening a FIFO blocks forever (and a thread with it).
    if (!(await fs.stat(abs)).isFile()) throw new SafetensorsError("io", abs, "is not a regular file; pass a .safetensors file");
    fh = await fs.open(abs, "r");
  } catch (e) {
    if (e instanceof SafetensorsError) throw e;
    throw ioError(abs, "cannot open the file (check the path and permissions)", e);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new SafetensorsError("io", abs, "is not a regular file; pass a .safetensors file");
    const prefix = st.size > 0 ? await readExact(fh, Math.min(8, st.size), 0) : new Uint8Array(0);
    const n = parseHeaderLength(abs, prefix, st.size);
    const json = await readExact(fh, n, 8);
    const header = parseHeader(abs, json, st.size);
    const key = fileKey(st);
    markOpen(key);
    return new FileSource(abs, fh, key, header.tensors, header.metadata, header.dataStart, 8 + n);
  } catch (e) {
    await fh.close().catch(() => undefined);
    if (e instanceof SafetensorsError) throw e;
    throw ioError(abs, "cannot read the header", e);
  }
}
