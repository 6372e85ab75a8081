/**
 * Every crash the fuzzer found, kept as a plain regression test (the input, and the typed outcome
 * it must have now). Each names the fuzz target and the fix.
 */
import assert from "node:assert/strict";
import test from "node:test";
import { parseMatchTable } from "../src/core/share/matchTable";
import { planSharing } from "../src/core/share/plan";

const FILE = "/fuzz/tables/match-qk.json";

test("fuzz regression (share.parseMatchTable): a paper table claiming 10^6 × 10^6 heads is a typed error, not 'Invalid array length'", () => {
  for (const [layers, heads] of [
    [1_000_000, 1_000_000],
    [65536, 65536],
    [4_000_002, 1],
  ]) {
    assert.throws(
      () => parseMatchTable({ layers, heads, strategy: "qk", targets: [[1, 0, 0, 0, 0.5]] }, FILE),
      (e: unknown) => e instanceof Error && e.name === "MatchTableError" && (e as { code?: string }).code === "bad-field" && e.message.includes(FILE),
      `${layers}×${heads}`,
    );
  }
});

const tinyTable = parseMatchTable(
  {
    format: "headshare.match",
    version: 1,
    strategy: "qk",
    granularity: "group",
    layers: 2,
    unitsPerLayer: 1,
    entries: [{ layer: 1, unit: 0, sourceLayer: 0, sourceUnit: 0, score: 0.5 }],
  },
  FILE,
);

test("fuzz regression (share.planSharing): a ratio that is an object without a prototype is a typed bad-ratio error", () => {
  for (const ratio of [
    Object.create(null),
    Symbol("r"),
    {
      toString: () => {
        throw new Error("no");
      },
    },
    10n,
  ]) {
    assert.throws(
      () => planSharing(tinyTable, ratio as number),
      (e: unknown) => e instanceof Error && e.name === "PlanError" && (e as { code?: string }).code === "bad-ratio",
    );
  }
});

test("fuzz regression (share.planSharing): ratio −0 selects +0 units (no '-0' in formatted plans)", () => {
  const p = planSharing(tinyTable, -0);
  assert.ok(Object.is(p.selected, 0), `selected is ${Object.is(p.selected, -0) ? "-0" : p.selected}`);
  assert.equal(p.targets.length, 0);
});

test("fuzz regression (protocol.worker-receive): a handler error too long for the envelope is truncated, not dropped by the client", async () => {
  const { Rpc, fitErrorPayload } = await import("../src/protocol/rpc");
  const { envelopeSchema } = await import("../src/protocol/envelope");
  const { workerSide, clientSide } = await import("../src/protocol/worker");
  const sent: unknown[] = [];
  const rpc = new Rpc(workerSide, clientSide, { send: (m) => void sent.push(m) });
  rpc.handle("headshare/inspect", () => {
    throw Object.assign(new Error(`/m: ${"x".repeat(100_000)}`), { code: `c${"y".repeat(500)}` });
  });
  rpc.receive({ kind: "request", id: 1, method: "headshare/inspect", params: { model: "/m" } });
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(sent.length, 1);
  assert.ok(envelopeSchema.safeParse(sent[0]).success, "the error reply is a valid envelope");
  const err = (sent[0] as { error: { message: string; code: string } }).error;
  assert.match(err.message, /^\/m: x+ … \(truncated\)$/);
  assert.equal(err.code, "internal");
  assert.deepEqual(fitErrorPayload({ message: "ok", code: "bad-config" }), { message: "ok", code: "bad-config" });
});

test("fuzz regression (protocol.worker-receive): a handler throwing an Error whose message getter throws still gets an error reply", async () => {
  const { Rpc } = await import("../src/protocol/rpc");
  const { workerSide, clientSide } = await import("../src/protocol/worker");
  const sent: { kind: string; error?: { code: string } }[] = [];
  const rpc = new Rpc(workerSide, clientSide, { send: (m) => void sent.push(m as never) });
  rpc.handle("headshare/inspect", () => {
    const e = new Error("x");
    Object.defineProperty(e, "message", {
      get: () => {
        throw new Error("getter");
      },
    });
    throw e;
  });
  rpc.receive({ kind: "request", id: 1, method: "headshare/inspect", params: { model: "/m" } });
  await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(
    sent.map((m) => [m.kind, m.error?.code]),
    [["error", "internal"]],
  );
});

test("fuzz regression (protocol.client-receive): an error reply with an empty message still rejects with a readable message", async () => {
  const { Rpc, RpcError } = await import("../src/protocol/rpc");
  const { workerSide, clientSide } = await import("../src/protocol/worker");
  const rpc = new Rpc(clientSide, workerSide, { send: () => undefined });
  const started = rpc.start("headshare/inspect", { model: "/m" });
  rpc.receive({ kind: "error", id: 7, inReplyTo: started.id, error: { message: "", code: " " } });
  await assert.rejects(started.result, (e: unknown) => e instanceof RpcError && e.message.includes("headshare/inspect") && e.message.length > 20);
});

test("fuzz regression (protocol.webview-messages): an export named '.' or '..' is rejected", async () => {
  const { hostSide } = await import("../src/protocol/webview");
  const exportParams = hostSide.requests["webview/export"].params;
  for (const name of [".", "..", "..."]) assert.equal(exportParams.safeParse({ format: "png", suggestedName: name, data: "x" }).success, false, name);
  assert.equal(exportParams.safeParse({ format: "png", suggestedName: "map.v2.png", data: "x" }).success, true);
});

test("fuzz regression (model.config+tensors): a layer count of 2^53−1 in config.json is a typed error for every family, not 'Invalid array length'", async () => {
  const { writeSyntheticModel } = await import("../src/core/model/synthetic");
  const { openCheckpoint } = await import("../src/core/model/checkpoint");
  const fs = await import("node:fs");
  const path = await import("node:path");
  const { scratchDir, removeDir } = await import("./fuzz/tmp");
  const root = scratchDir("reg-layers");
  try {
    for (const [family, key] of [
      ["llama", "num_hidden_layers"],
      ["gpt2", "n_layer"],
      ["bert", "num_hidden_layers"],
      ["gpt-neox", "num_hidden_layers"],
    ] as const) {
      const dir = await writeSyntheticModel(path.join(root, family), { family, layers: 1, heads: 2, headDim: 2, intermediate: 4, vocab: 8, seed: 1 });
      const cfg = JSON.parse(fs.readFileSync(path.join(dir, "config.json"), "utf8")) as Record<string, unknown>;
      fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({ ...cfg, [key]: Number.MAX_SAFE_INTEGER }));
      await assert.rejects(
        openCheckpoint(dir),
        (e: unknown) =>
          e instanceof Error && e.name === "ModelError" && (e as { code?: string }).code === "inconsistent-config" && e.message.includes("config.json"),
        family,
      );
    }
  } finally {
    removeDir(root);
  }
});

test("fuzz regression (protocol.worker-jobs): a match table with out-of-range or short lowerCosines rows is refused as invalid params, not answered 'invalid-result'", async () => {
  const { matchTableSchema } = await import("../src/protocol/shareSchemas");
  const table = {
    format: "headshare.match",
    version: 1,
    strategy: "qk",
    granularity: "group",
    layers: 3,
    unitsPerLayer: 1,
    parametersPerUnit: null,
    bytesPerUnit: null,
    parameters: null,
    entries: [
      { layer: 1, unit: 0, sourceLayer: 0, sourceUnit: 0, score: 0.5 },
      { layer: 2, unit: 0, sourceLayer: 1, sourceUnit: 0, score: 0.6 },
    ],
  };
  assert.equal(matchTableSchema.safeParse({ ...table, lowerCosines: [[0.5], [0.1, 0.6]] }).success, true);
  assert.equal(matchTableSchema.safeParse({ ...table, lowerCosines: [[0.5], [-2, 0.6]] }).success, false, "a cosine of -2");
  assert.equal(matchTableSchema.safeParse({ ...table, lowerCosines: [[0.5], [0.6]] }).success, false, "a row shorter than layer·U");
  assert.equal(matchTableSchema.safeParse({ ...table, lowerCosines: [[0.5]] }).success, false, "a missing row");
});
