/**
 * A byte-level tokenizer as a Hugging Face `tokenizer.json` (+ tokenizer_config.json): ids 0..2 are
 * <unk>, <s>, </s>; ids 3..258 are the bytes <0x00>..<0xFF> (Llama's byte-fallback tokens). A BPE
 * model with an empty vocabulary of pieces and byte_fallback, so every UTF-8 byte is one token and
 * any text round-trips. Loads in @huggingface/tokenizers, transformers and the Rust crate.
 */
export const BYTE_VOCAB = 259;
export const BYTE_OFFSET = 3;

export function byteTokenizerJson(): Record<string, unknown> {
  const special = (id: number, content: string): Record<string, unknown> => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const vocab: Record<string, number> = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`] = b + BYTE_OFFSET;
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { SpecialToken: { id: "<s>", type_id: 1 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
    },
    decoder: { type: "Sequence", decoders: [{ type: "ByteFallback" }, { type: "Fuse" }] },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: "<unk>",
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: [],
    },
  };
}

export function byteTokenizerConfig(maxLength: number): Record<string, unknown> {
  return {
    tokenizer_class: "PreTrainedTokenizerFast",
    add_bos_token: true,
    add_eos_token: false,
    bos_token: "<s>",
    eos_token: "</s>",
    unk_token: "<unk>",
    pad_token: null,
    clean_up_tokenization_spaces: false,
    model_max_length: maxLength,
  };
}

/** The reference encoding: BOS-less ids of the UTF-8 bytes. */
export function byteEncode(text: string): number[] {
  return Array.from(Buffer.from(text, "utf8"), (b) => b + BYTE_OFFSET);
}
