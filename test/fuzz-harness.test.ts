/**
 * The fuzz harness itself: it must call an untyped error, a broken invariant, an over-allocation
 * and an async hang crashes, and accept typed errors that name the file. Without this, a harness
 * that reports "0 crashes" could be blind.
 */
import assert from "node:assert/strict";
import test from "node:test";
import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { runCase, runTarget, typedErrorKind, Watchdog, type FuzzTarget } from "./fuzz/harness";

// Child role (see the watchdog test): a sync reader stuck in a loop under the watchdog.
if (process.env.HEADSHARE_FUZZ_WATCHDOG_CHILD) {
  const dog = new Watchdog(300);
  dog.target("spin");
  dog.enter(7);
  for (;;) {
    /* a hang the same thread cannot interrupt */
  }
}

class DemoError extends Error {
  override readonly name = "DemoError";
  constructor(
    readonly code: string,
    file: string,
    msg: string,
  ) {
    super(`${file}: ${msg}`);
  }
}

const base = { weight: 1, arb: fc.nat(), fileOf: () => "/x/model.safetensors" };

test("fuzz harness: typed errors are accepted only with a code and the file named", () => {
  assert.equal(typedErrorKind(new DemoError("bad-x", "/x/model.safetensors", "broken header"), "/x/model.safetensors"), "DemoError:bad-x");
  assert.equal(typedErrorKind(new DemoError("bad-x", "/x/other.json", "broken header"), "/x/model.safetensors"), undefined, "message must name the file");
  assert.equal(typedErrorKind(new DemoError("", "/x/model.safetensors", "broken header")), undefined, "code must be non-empty");
  assert.equal(
    typedErrorKind(Object.assign(new Error("ENOENT: no such file model.safetensors"), { code: "ENOENT" })),
    undefined,
    "raw system errors are not typed",
  );
  assert.equal(typedErrorKind(new TypeError("x is undefined")), undefined);
  assert.equal(typedErrorKind("a string"), undefined);
  assert.equal(
    typedErrorKind(new DemoError("bad-x", "/x/model.safetensors", "broken header"), undefined, ["SafetensorsError"]),
    undefined,
    "class must be allowed",
  );
});

test("fuzz harness: crashes are detected (untyped error, invariant, allocation, hang)", async () => {
  const cases: [string, FuzzTarget<number>, RegExp][] = [
    [
      "untyped",
      {
        ...base,
        name: "t",
        run: () => {
          throw new TypeError("cannot read properties of undefined");
        },
      },
      /untyped/,
    ],
    ["invariant", { ...base, name: "t", run: () => 3, check: (_i, r) => assert.equal(r, 4) }, /invariant/],
    ["alloc", { ...base, name: "t", run: () => new Uint8Array(200 * 2 ** 20).fill(1) }, /allocated/],
    ["hang", { ...base, name: "t", timeLimitMs: 200, run: () => new Promise(() => undefined) }, /hang/],
  ];
  for (const [label, t, re] of cases) {
    const o = await runCase(t, 1);
    assert.equal(o.kind, "crash", label);
    assert.match(o.kind === "crash" ? o.why : "", re, label);
  }
  const ok = await runCase(
    {
      ...base,
      name: "t",
      run: () => {
        throw new DemoError("bad-x", "/x/model.safetensors", "broken header");
      },
    },
    1,
  );
  assert.deepEqual(ok, { kind: "typed", errorKind: "DemoError:bad-x" });
});

test("fuzz harness: a failing target reports a reproducible, shrunk counterexample", async () => {
  const t: FuzzTarget<number> = {
    ...base,
    name: "div",
    arb: fc.integer({ min: 0, max: 1000 }),
    run: (n) => {
      if (n >= 500) throw new RangeError(`n=${n}`);
      return n;
    },
  };
  const a = await runTarget(t, { seed: 42, cases: 2000 });
  const b = await runTarget(t, { seed: 42, cases: 2000 });
  assert.equal(a.crashes.length, 1);
  assert.match(a.crashes[0]!.report, /counterexample: \[500\]/, "shrinks to the smallest failing input");
  assert.equal(a.crashes[0]!.report, b.crashes[0]!.report, "same seed, same report");
});

test("fuzz harness: the watchdog aborts a sync hang and names the target and case", () => {
  const env: NodeJS.ProcessEnv = { ...process.env, HEADSHARE_FUZZ_WATCHDOG_CHILD: "1" };
  delete env.NODE_TEST_CONTEXT;
  const r = spawnSync(process.execPath, [__filename], { env, encoding: "utf8", timeout: 20_000 });
  assert.equal(r.signal, "SIGKILL", `child ended with ${r.signal ?? r.status}; stderr: ${r.stderr}`);
  assert.match(r.stderr, /FUZZ HANG: target spin case 7/);
});
