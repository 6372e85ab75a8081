/** The ORT runtime layer: provider order, fallback to CPU with a reason, option validation. */
import test from "node:test";
import assert from "node:assert/strict";
import { createSession, resolveProviders, Tensor } from "../src/core/runtime/ort";
import { gemmTransBModel, sumSquaresModel } from "../src/core/runtime/gemmModel";
import { RuntimeError } from "../src/core/runtime/errors";

test("runtime-ort: provider lists are validated (auto's order: runtime-devices.test.ts)", () => {
  assert.deepEqual(resolveProviders(["cpu", "cpu"]), ["cpu"]);
  assert.throws(
    () => resolveProviders([]),
    (e: unknown) => e instanceof RuntimeError && e.code === "bad-providers",
  );
  assert.throws(
    () => resolveProviders(["tpu" as "cpu"]),
    (e: unknown) => e instanceof RuntimeError && e.code === "bad-providers" && /tpu/.test(e.message),
  );
});

test("runtime-ort: a provider that cannot load falls back to CPU and says why; the Gemm model computes A·Bᵀ", async () => {
  // No CUDA/CoreML/DirectML binaries are installed here: each must be caught, not thrown.
  const { session, provider, fallbackReason } = await createSession(gemmTransBModel(), { providers: ["coreml", "cuda", "dml"] });
  assert.equal(provider, "cpu");
  assert.match(fallbackReason ?? "", /coreml: .*; cuda: .*; dml: /);
  const a = Float32Array.from([1, 2, 3, 4, 5, 6]); // [2, 3]
  const b = Float32Array.from([1, 0, 1, 0, 1, 0, 2, 2, 2, -1, 0, 1]); // [4, 3]
  const r = await session.run({ A: new Tensor("float32", a, [2, 3]), B: new Tensor("float32", b, [4, 3]) });
  assert.deepEqual(Array.from(r.C!.data as Float32Array), [4, 2, 12, 2, 10, 5, 30, 2]);
  assert.deepEqual(r.C!.dims, [2, 4]);
  await session.release();
  const cpu = await createSession(sumSquaresModel(), { providers: ["cpu"], intraOpThreads: 1 });
  assert.equal(cpu.fallbackReason, undefined);
  const s = await cpu.session.run({ X: new Tensor("float32", a, [2, 3]) });
  assert.deepEqual(Array.from(s.S!.data as Float32Array), [14, 77]);
  await cpu.session.release();
});

test("runtime-ort: bad model bytes and options are typed errors", async () => {
  await assert.rejects(createSession(new Uint8Array(0)), (e: unknown) => e instanceof RuntimeError && e.code === "bad-model");
  await assert.rejects(createSession(gemmTransBModel(), { intraOpThreads: -1 }), (e: unknown) => e instanceof RuntimeError && e.code === "bad-threads");
  await assert.rejects(
    createSession(Uint8Array.from([1, 2, 3]), { providers: ["cpu"] }),
    (e: unknown) => e instanceof RuntimeError && e.code === "no-provider" && /cpu: /.test(e.message),
  );
});
