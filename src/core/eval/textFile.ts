/**
 * An evaluation text read from its file in pieces and tokenized as it is read: only token ids are
 * kept (int32), never the whole text, nor the tokenizer's per-token strings for all of it.
 *
 * documents: the text is split at the separator as it streams; each document is tokenized on its
 *   own, exactly as makeWindows does. Only the first DOC_CHARS_PER_TOKEN × window characters of a
 *   document are kept (its window needs no more).
 * stream: the text is cut into pieces of about PIECE_CHARS characters at a line end (else a space,
 *   else anywhere). A piece is tokenized after CONTEXT_CHARS characters of the text before it, whose
 *   own tokens are dropped; a cut is taken only where the tokenizer puts a token boundary with that
 *   context on both sides (the ids of the context alone are a prefix of the ids of context + piece),
 *   so the ids are those of the whole text tokenized at once (checked on the shared texts by
 *   test/eval-text-file.test.ts). A piece with no such cut among MAX_CUT_TRIES candidates is cut anyway
 *   and counted in `inexactCuts`.
 */
import { StringDecoder } from "node:string_decoder";
import { openRegularFile, RegularFileError } from "../safetensors/regularFile";
import { EvalError } from "./errors";
import { bosTokens, documentWindow, makeWindows, nonEmpty, streamWindows, type ScoredWindow, type TextProtocol } from "./windows";

/** An evaluation text given by its file (read in pieces), beside the in-memory string form. */
export interface TextFile {
  readonly file: string;
}
export type TextSource = string | TextFile;

/** The largest evaluation text: a few MB measure perplexity well; ids of 64 MiB of text are ~100 MB. */
export const MAX_TEXT_BYTES = 64 * 2 ** 20;

const READ_BYTES = 1 << 20;
const PIECE_CHARS = 1 << 20;
const CONTEXT_CHARS = 256;
const MAX_CUT_TRIES = 16;
/** A document keeps at most this many characters per window token (real tokens average 3–5). */
const DOC_CHARS_PER_TOKEN = 64;

export interface TextWindows {
  readonly windows: ScoredWindow[];
  /** Stream cuts where no token boundary could be confirmed (0 on natural text). */
  readonly inexactCuts: number;
}

/** The file's problem in the words every text command uses (regular file, size, readable). */
function textFileError(file: string, e: unknown): Error {
  const r = e instanceof RegularFileError ? e.reason : "io";
  const [why, todo] =
    r === "missing"
      ? ["it does not exist", "pass an existing UTF-8 text file"]
      : r === "not-regular"
        ? ["it is not a regular file: a folder, FIFO or device", "pass a UTF-8 text file"]
        : r === "too-large"
          ? [
              `it is ${(e as RegularFileError).size} bytes, more than the ${MAX_TEXT_BYTES / 2 ** 20} MiB an evaluation text may be`,
              "pass an excerpt (a few MB measure perplexity well)",
            ]
          : [e instanceof Error ? e.message : String(e), "pass a readable UTF-8 text file"];
  return new EvalError("bad-text", `${file}: cannot read the text file (${why}); ${todo}`);
}

/** Checks the text file (regular, at most MAX_TEXT_BYTES) without reading it: for up-front option checks. */
export async function checkTextFile(file: string): Promise<void> {
  try {
    const { fh } = await openRegularFile(file, MAX_TEXT_BYTES);
    await fh.close();
  } catch (e) {
    throw textFileError(file, e);
  }
}

/** The file's text, piece by piece (UTF-8 decoded across piece ends); refused past MAX_TEXT_BYTES even if it grows while read. */
async function* readPieces(file: string, signal: AbortSignal | undefined, readBytes = READ_BYTES): AsyncGenerator<string> {
  let opened;
  try {
    opened = await openRegularFile(file, MAX_TEXT_BYTES);
  } catch (e) {
    throw textFileError(file, e);
  }
  const { fh } = opened;
  try {
    const buf = Buffer.allocUnsafe(readBytes);
    const dec = new StringDecoder("utf8");
    let total = 0;
    for (;;) {
      if (signal?.aborted) throw new EvalError("aborted", "evaluation was cancelled");
      let n: number;
      try {
        n = (await fh.read(buf, 0, readBytes, null)).bytesRead;
      } catch (e) {
        throw textFileError(file, e);
      }
      if (n === 0) break;
      total += n;
      if (total > MAX_TEXT_BYTES) throw textFileError(file, new RegularFileError("too-large", file, total, "grew while read"));
      yield dec.write(buf.subarray(0, n));
    }
    const rest = dec.end();
    if (rest) yield rest;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/** Int32 ids that grow by doubling. */
class IdList {
  private a = new Int32Array(1 << 16);
  length = 0;
  push(ids: ArrayLike<number>, from = 0): void {
    const n = ids.length - from;
    if (this.length + n > this.a.length) {
      const b = new Int32Array(Math.max(this.a.length * 2, this.length + n));
      b.set(this.a.subarray(0, this.length));
      this.a = b;
    }
    for (let i = 0; i < n; i++) this.a[this.length + i] = ids[from + i]!;
    this.length += n;
  }
  view(): Int32Array {
    return this.a.subarray(0, this.length);
  }
}

const startsWith = (a: readonly number[], prefix: readonly number[]): boolean => prefix.length <= a.length && prefix.every((x, i) => a[i] === x);

/** Cut candidates in `text` at or before `end`, best first: after a line end, else before a space, else `end` itself. */
function* cutCandidates(text: string, end: number, min: number): Generator<number> {
  let tries = 0;
  for (let i = text.lastIndexOf("\n", end - 1); i >= min && tries < MAX_CUT_TRIES; i = text.lastIndexOf("\n", i - 1), tries++) yield i + 1;
  tries = 0;
  for (let i = text.lastIndexOf(" ", end - 1); i > min && tries < MAX_CUT_TRIES; i = text.lastIndexOf(" ", i - 1), tries++) yield i;
  yield end;
}

/**
 * Ids of a whole text fed in pieces (see the file comment): `add` the text as it is read, then `finish`.
 * `encode` returns ids without special tokens.
 */
export class StreamTokenizer {
  private readonly ids = new IdList();
  private pending = "";
  /** The CONTEXT_CHARS characters of text before `pending` ("" at the start of the text). */
  private context = "";
  inexactCuts = 0;

  constructor(
    private readonly encode: (t: string) => number[],
    private readonly pieceChars = PIECE_CHARS,
  ) {}

  add(text: string): void {
    this.pending += text;
    while (this.pending.length >= 2 * this.pieceChars) this.flush(this.pieceChars);
  }

  finish(): Int32Array {
    if (this.pending) this.emit(this.pending);
    this.pending = "";
    return this.ids.view();
  }

  /** Tokenizes the first ~`target` characters of pending, cut where a token boundary is confirmed. */
  private flush(target: number): void {
    let cut = target;
    let exact = false;
    for (const c of cutCandidates(this.pending, target, target >> 1)) {
      cut = c;
      const left = this.pending.slice(Math.max(0, c - CONTEXT_CHARS), c),
        right = this.pending.slice(c, c + CONTEXT_CHARS);
      if (startsWith(this.encode(left + right), this.encode(left))) {
        exact = true;
        break;
      }
    }
    if (!exact) this.inexactCuts++;
    this.emit(this.pending.slice(0, cut));
    this.pending = this.pending.slice(cut);
  }

  /** Appends the ids of `piece`, tokenized after the context (whose own ids are dropped). */
  private emit(piece: string): void {
    if (!this.context) this.ids.push(this.encode(piece));
    else {
      const ctx = this.encode(this.context);
      const all = this.encode(this.context + piece);
      if (!startsWith(all, ctx)) this.inexactCuts++; // the confirmed cut did not hold with this piece: keep what follows the context's length
      this.ids.push(all, ctx.length);
    }
    this.context = (this.context + piece).slice(-CONTEXT_CHARS);
  }
}

/** Sizes (tests make them small to exercise the cuts). */
export interface PieceSizes {
  readonly readBytes?: number;
  readonly pieceChars?: number;
}

/** The scored windows of a text file under `p`, read and tokenized in pieces (see the file comment). */
export async function textFileWindows(
  file: string,
  p: TextProtocol,
  encode: (t: string) => number[],
  bosId: number | undefined,
  signal?: AbortSignal,
  sizes: PieceSizes = {},
): Promise<TextWindows> {
  const bos = bosTokens(p, bosId);
  if (p.kind === "stream") {
    const st = new StreamTokenizer(encode, sizes.pieceChars);
    for await (const piece of readPieces(file, signal, sizes.readBytes)) st.add(piece);
    return { windows: streamWindows(st.finish(), p, bosId), inexactCuts: st.inexactCuts };
  }
  const keep = Math.max(65536, p.window * DOC_CHARS_PER_TOKEN);
  const out: ScoredWindow[] = [];
  let doc = "";
  let skipping = false; // the document is longer than `keep`: its window is taken; drop the rest until the separator
  const sep = p.separator;
  /** What may hold the start of a separator that the next piece completes. */
  const sepStart = (): string => (sep.length > 1 ? doc.slice(-(sep.length - 1)) : "");
  const take = (): void => {
    const w = documentWindow(doc.trim(), p, encode, bos);
    if (w) out.push(w);
  };
  for await (const piece of readPieces(file, signal, sizes.readBytes)) {
    doc += piece;
    for (let i = doc.indexOf(sep); i >= 0; i = doc.indexOf(sep)) {
      if (!skipping) {
        const d = doc;
        doc = d.slice(0, i);
        take();
        doc = d;
      }
      skipping = false;
      doc = doc.slice(i + sep.length);
    }
    if (!skipping && doc.length > keep + sep.length) {
      const tail = sepStart();
      doc = doc.slice(0, keep);
      take();
      skipping = true;
      doc = tail;
    } else if (skipping) doc = sepStart();
  }
  if (!skipping) take();
  return { windows: nonEmpty(out), inexactCuts: 0 };
}

/** The windows of a text given as a string or as a file. */
export async function sourceWindows(
  text: TextSource,
  p: TextProtocol,
  encode: (t: string) => number[],
  bosId: number | undefined,
  signal?: AbortSignal,
): Promise<ScoredWindow[]> {
  if (typeof text === "string") return makeWindows(text, p, encode, bosId);
  return (await textFileWindows(text.file, p, encode, bosId, signal)).windows;
}
