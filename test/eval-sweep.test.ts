// Sweep: one match table, each ratio's plan applied in memory; every row must equal evaluating the
// DirectShare output written to disk for that ratio (NLL, KL(original ‖ shared), agreement,
// parameters of the compact file), and ratio 0 must change nothing.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { computeMatchTable } from "../src/core/share/match";
import { planSharing } from "../src/core/share/plan";
import { writeShared } from "../src/core/share/write";
import { evaluate } from "../src/core/eval/evaluate";
import { sweep, sweepCsv } from "../src/core/eval/sweep";
import { makeProtocol } from "../src/core/eval/windows";
import { modelSize } from "../src/core/eval/sizes";
import { EvalError } from "../src/core/eval/errors";
import type { TextTokenizer } from "../src/core/eval/tokenizer";
import { scaledSynthetic } from "./graph-reference";

const V = 31;
const tok: TextTokenizer = {
  path: "(test)",
  vocabSize: V,
  bosTokenId: 1,
  encode: (t) => Array.from(t, (c) => (c.charCodeAt(0) % (V - 3)) + 3),
  decode: () => "",
};

test("eval sweep: rows equal evaluating the written shared checkpoints; ratio 0 is the original", async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "headshare-sweep-"));
  try {
    const orig = await openCheckpoint(
      await scaledSynthetic(dir, { family: "llama", layers: 4, heads: 4, kvHeads: 2, headDim: 8, vocab: V, maxPositions: 64, seed: 17 }, 8),
    );
    try {
      const text = "a small story about a cat and a dog.|another one, with more words in it than the first.|the end";
      const protocol = makeProtocol({ documentsSeparator: "|", window: 40 }, 64);
      const opts = { tokenizer: tok, providers: ["cpu" as const], threads: 1, attentionChunk: 16 };
      const table = await computeMatchTable(orig, { strategy: "qk", granularity: "group", providers: ["cpu"] });
      const r = await sweep(orig, [0, 0.25, 0.5], text, protocol, { ...opts, table });
      assert.equal(r.rows.length, 3);
      assert.equal(r.klDirection, "KL(P_original ‖ P_shared)");
      const [r0, , r50] = r.rows;
      assert.equal(r0!.selected, 0);
      assert.equal(r0!.kl, 0);
      assert.equal(r0!.top1Agreement, 1);
      assert.equal(r0!.nll, r.original.nll);
      const plan = planSharing(table, 0.5);
      await writeShared(orig, plan, { format: "compact", outDir: path.join(dir, "c50") });
      const shared = await openCheckpoint(path.join(dir, "c50"));
      try {
        const e = await evaluate(orig, text, protocol, { ...opts, compare: shared });
        assert.equal(r50!.selected, plan.selected);
        assert.ok(Math.abs(r50!.nll - e.compare!.nll) < 1e-6, `nll ${r50!.nll} vs ${e.compare!.nll}`);
        assert.ok(Math.abs(r50!.kl - e.kl!) < 1e-6, `kl ${r50!.kl} vs ${e.kl}`);
        assert.ok(r50!.kl > 1e-3, "sharing half the units changes the distribution");
        assert.equal(r50!.top1Agreement, e.top1Agreement);
        assert.equal(r50!.parameters, modelSize(shared).parameters);
        assert.equal(r50!.bytes, modelSize(shared).bytes);
      } finally {
        await shared.close();
      }
      const csv = sweepCsv(r).trim().split("\n");
      assert.equal(csv.length, 4);
      assert.match(
        csv[0]!,
        /^ratio,selected,saved_units,chained_targets,parameters,bytes,nll,ppl,kl,top1_agreement,hidden_cos_0,hidden_cos_1,hidden_cos_2,hidden_cos_3$/,
      );
      await assert.rejects(sweep(orig, [0.8], text, protocol, { ...opts, table }), (e: unknown) => e instanceof EvalError && /\[0, 0\.7500\]/.test(e.message));
      await assert.rejects(sweep(orig, [], text, protocol, { ...opts, table }), (e: unknown) => e instanceof EvalError && e.code === "bad-option");
    } finally {
      await orig.close();
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
