/**
 * Public API of evaluation (for the worker and the CLI): `headshare eval`, `headshare sweep`,
 * the attention-map similarity table, tokenizers and text protocols.
 */
export { evaluate, type EvalOptions, type EvalProgress, type EvalResult, type ProtocolFacts } from "./evaluate";
export { sweep, sweepCsv, type SweepOptions, type SweepResult, type SweepRow } from "./sweep";
export {
  attentionMapSimilarity,
  ATTENTION_MEASURE,
  type AttentionMatch,
  type AttentionSimilarity,
  type AttentionSimilarityOptions,
} from "./attentionSimilarity";
export { makeProtocol, describeProtocol, exactWindow, checkWindowFits, type ProtocolInput, type TextProtocol } from "./windows";
export { loadTokenizer, type TextTokenizer } from "./tokenizer";
export { modelSize, type ModelSize } from "./sizes";
export { EvalError, type EvalErrorCode } from "./errors";
export { ForwardRunner, type RunnerOptions, type RunOutput } from "./runner";
