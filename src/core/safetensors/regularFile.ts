/**
 * Reading a small input file whole (config, tokenizer, index, evaluation text) without ever
 * blocking or reading without bound: it is opened non-blocking (a FIFO opens at once instead of
 * waiting for a writer), checked through the open descriptor (no swap between check and read) to be
 * a regular file of at most `maxBytes`, and only then read. Errors carry a `reason` so each caller
 * words its own message (naming the file and what to do).
 */
import fs from "node:fs/promises";

export type RegularFileProblem = "missing" | "not-regular" | "too-large" | "io";

export class RegularFileError extends Error {
  override readonly name = "RegularFileError";
  constructor(
    readonly reason: RegularFileProblem,
    readonly file: string,
    readonly size: number | undefined,
    message: string,
  ) {
    super(message);
  }
}

/** Opens `file` checked as above (regular, at most `maxBytes`); the caller reads it in pieces and closes the handle. */
export async function openRegularFile(file: string, maxBytes: number): Promise<{ readonly fh: fs.FileHandle; readonly size: number }> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RegularFileError(code === "ENOENT" ? "missing" : "io", file, undefined, `${file}: cannot open it (${code ?? String(e)})`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new RegularFileError("not-regular", file, undefined, `${file} is not a regular file (a folder, FIFO or device)`);
    if (st.size > maxBytes) throw new RegularFileError("too-large", file, st.size, `${file} is ${st.size} bytes, more than the ${maxBytes} allowed here`);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close().catch(() => undefined);
    if (e instanceof RegularFileError) throw e;
    throw new RegularFileError("io", file, undefined, `${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

export async function readRegularFile(file: string, maxBytes: number): Promise<Buffer> {
  const { fh } = await openRegularFile(file, maxBytes);
  try {
    return await fh.readFile();
  } catch (e) {
    throw new RegularFileError("io", file, undefined, `${file}: cannot read it (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  } finally {
    await fh.close().catch(() => undefined);
  }
}
