/**
 * Long BPE words, split where no merge can reach across.
 *
 * SentencePiece-converted tokenizers (Llama, Mistral, llama2.c's stories models) have no
 * pre-tokenizer: @huggingface/tokenizers hands the whole normalized text to BPE as ONE word. Its BPE
 * builds a node object and a heap entry per character (~10 µs and ~250 B per character, measured on
 * stories260K-hf) and caches only words under 256 characters, so a 10 MB line took minutes and GBs.
 *
 * Exact split: BPE only ever joins two adjacent symbols into a merge rule's result, so a boundary
 * between characters x and y is never crossed when the pair "xy" occurs inside no merge result
 * (for Llama: a letter followed by "▁"). Splitting a word at such boundaries and running BPE on each
 * piece gives the same tokens as BPE on the whole word, and the pieces (words) hit BPE's cache.
 * A run longer than MAX_RUN code points with no such boundary (base64, "aaaa…") is cut every
 * MAX_RUN code points: tokens next to a cut may differ from whole-word BPE; time and memory stay linear.
 */

/** The BPE model object of @huggingface/tokenizers 0.2 that this patches (duck-typed; absent fields disable the patch). */
interface BpeModel {
  bpe?: (token: string) => string[];
  merges?: unknown;
  end_of_word_suffix?: unknown;
  continuing_subword_suffix?: unknown;
}

/** Longest run of code points given to the library's BPE in one call when the run has no exact split point. */
export const MAX_RUN = 4096;

/** Words up to this many UTF-16 units go to the library's BPE unchanged (it caches words under 256). */
const SHORT_WORD = 256;

/** Every adjacent code-point pair inside a merge result ("a b" → a + b), as `x + y` strings. */
function joinablePairs(merges: readonly (readonly [string, string])[]): Set<string> {
  const pairs = new Set<string>();
  for (const [a, b] of merges) {
    const cps = Array.from(a + b);
    for (let i = 1; i < cps.length; i++) pairs.add(cps[i - 1]! + cps[i]!);
  }
  return pairs;
}

/** Pieces of `word` (code-point boundaries) no merge crosses, each at most MAX_RUN code points. */
export function splitWord(word: string, joinable: ReadonlySet<string>): string[] {
  const cps = Array.from(word);
  const out: string[] = [];
  let start = 0;
  for (let i = 1; i < cps.length; i++) {
    if (!joinable.has(cps[i - 1]! + cps[i]!) || i - start >= MAX_RUN) {
      out.push(cps.slice(start, i).join(""));
      start = i;
    }
  }
  if (cps.length > start) out.push(cps.slice(start).join(""));
  return out;
}

/**
 * Makes `model` (a Tokenizer's `model`) run BPE on long words piece by piece (see the file comment).
 * Returns false, changing nothing, when the model is not a plain BPE (suffixes make a split inexact).
 */
export function splitLongBpeWords(model: unknown): boolean {
  const m = model as BpeModel;
  if (typeof m.bpe !== "function" || !Array.isArray(m.merges)) return false;
  if (m.end_of_word_suffix || m.continuing_subword_suffix) return false;
  const merges = m.merges as unknown[];
  if (!merges.every((x) => Array.isArray(x) && x.length === 2 && typeof x[0] === "string" && typeof x[1] === "string")) return false;
  const joinable = joinablePairs(merges as [string, string][]);
  const whole = m.bpe.bind(m);
  m.bpe = (token: string): string[] => {
    if (token.length <= SHORT_WORD) return whole(token);
    const out: string[] = [];
    for (const piece of splitWord(token, joinable)) for (const t of whole(piece)) out.push(t);
    return out;
  };
  return true;
}
