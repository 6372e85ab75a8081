/**
 * Whole-model batches sized by measured speed, so that a cancel lands within about CANCEL_SECONDS.
 * onnxruntime-node cannot stop a running `session.run` (RunOptions.terminate is WebAssembly-only in
 * onnxruntime-common 1.x: "Will support Node.js binding … later"), so the cancel is checked between
 * runs and each run is kept short: the first run scores one window, later runs as many padded tokens
 * as the last run's speed fits in CANCEL_SECONDS, never more than the memory-sized `maxTokens`.
 */
import { longestFirst, makeBatch, type Batch, type ScoredWindow } from "./windows";

/** How long one whole-model run may take, about, so a cancel lands within it. */
export const CANCEL_SECONDS = 1;

export class PacedBatches {
  private readonly order: ScoredWindow[];
  private i = 0;
  private tokensPerRun: number;

  /** `targetSeconds` undefined: fixed batches of `maxTokens` (makeBatches' batches). */
  constructor(
    windows: readonly ScoredWindow[],
    private readonly maxTokens: number,
    private readonly targetSeconds: number | undefined,
  ) {
    this.order = longestFirst(windows);
    this.tokensPerRun = targetSeconds === undefined ? maxTokens : 1; // one window first, to measure
  }

  next(): Batch | undefined {
    if (this.i >= this.order.length) return undefined;
    const b = makeBatch(this.order, this.i, Math.min(this.maxTokens, this.tokensPerRun));
    this.i += b.batch;
    return b;
  }

  /** Reports how long `b` took: sizes the next batch. */
  took(b: Batch, seconds: number): void {
    if (this.targetSeconds === undefined) return;
    const perToken = Math.max(seconds, 1e-6) / (b.batch * b.seq);
    this.tokensPerRun = Math.max(1, Math.floor(this.targetSeconds / perToken));
  }
}
