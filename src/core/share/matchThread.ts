/**
 * A match thread's entry (bundled alone as matchThread.js; started by matchParallel.ts). Opens the
 * checkpoint read-only, reads blocks index, index + count, … of the match schedule into its own
 * chunk, multiplies each on its own ORT session and posts the float32 products and squared-norm
 * sums; the main thread adds them in block order. Errors are posted as MatchError codes.
 */
import { parentPort, workerData } from "node:worker_threads";
import { openCheckpoint, type Checkpoint } from "../model/checkpoint";
import { setFollowSymlinks } from "../safetensors/contained";
import { unitsPerLayer } from "../model/types";
import { MatchError } from "./errors";
import { createGramKernel, type GramKernel } from "./gram";
import type { MainMessage, ThreadInput, ThreadMessage } from "./matchParallel";
import { BlockReader, matchSchedule } from "./matchRead";

async function main(input: ThreadInput, port: NonNullable<typeof parentPort>): Promise<void> {
  const post = (m: ThreadMessage): void => port.postMessage(m);
  let merged = 0;
  let wake: (() => void) | undefined;
  const stop = new AbortController(); // the main thread is done with us (cancelled, or another thread failed)
  port.on("message", (m: MainMessage) => {
    if (m.type === "stop") stop.abort();
    else merged = Math.max(merged, m.upTo);
    wake?.();
  });
  let ckpt: Checkpoint | undefined;
  let reader: BlockReader | undefined;
  let kernel: GramKernel | undefined;
  try {
    setFollowSymlinks(input.followSymlinks);
    ckpt = await openCheckpoint(input.weightsPath);
    const before = ckpt.source.bytesRead;
    const schedule = matchSchedule(ckpt, input.strategy, input.granularity, input.chunkBytes);
    if (schedule.n !== input.units || schedule.blocks.length !== input.blocks) {
      throw new MatchError(
        "read-failed",
        `${input.weightsPath}: the checkpoint changed while it was being matched (${schedule.n} units in ${schedule.blocks.length} blocks, expected ${input.units} in ${input.blocks}); match it again`,
      );
    }
    reader = new BlockReader(ckpt, schedule);
    kernel = await createGramKernel(ckpt.spec.layers, unitsPerLayer(ckpt.spec, input.granularity), {
      providers: ["cpu"],
      intraOpThreads: input.intraOpThreads,
    });
    post({ type: "ready", provider: kernel.provider });
    for (let k = input.index; k < schedule.blocks.length && !stop.signal.aborted; k += input.count) {
      while (k >= merged + input.window && !stop.signal.aborted)
        await new Promise<void>((r) => {
          wake = r;
        });
      if (stop.signal.aborted) break;
      const t0 = performance.now();
      const blk = await reader.read(k);
      const t1 = performance.now();
      const products = await kernel.products(reader.chunk.subarray(0, schedule.n * blk.width), blk.width, stop.signal);
      const t2 = performance.now();
      post({ type: "block", k, products, norms: blk.norms, waited: blk.waited, decode: (t1 - t0) / 1000 - blk.waited, gram: (t2 - t1) / 1000 });
    }
    if (!stop.signal.aborted) post({ type: "done", bytes: ckpt.source.bytesRead - before + reader.directBytes });
  } catch (e) {
    if (!stop.signal.aborted)
      post({
        type: "error",
        code: e instanceof MatchError ? e.code : "read-failed",
        message: e instanceof MatchError ? e.message : `${input.weightsPath}: matching failed: ${e instanceof Error ? e.message : String(e)}`,
      });
  } finally {
    reader?.close();
    await kernel?.dispose();
    await ckpt?.close();
    port.close();
  }
}

if (parentPort && workerData) void main(workerData as ThreadInput, parentPort);
