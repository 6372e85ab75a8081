// The RPC class over an in-memory pair of transports: round trips, error replies, cancellation,
// validation of everything received, and progress throttling.
import test from "node:test";
import assert from "node:assert/strict";
import * as z from "zod";
import { Rpc, RpcError, type LogLevel, type ProtocolSide } from "../src/protocol/rpc";
import type { Envelope } from "../src/protocol/envelope";
import { throttleProgress, type ProgressUpdate } from "../src/worker/progress";

class TypedError extends Error {
  readonly code = "model-error";
  override readonly name = "ModelError";
}

const server = {
  requests: {
    "test/add": { params: z.object({ a: z.number(), b: z.number().default(10) }), result: z.object({ sum: z.number() }) },
    "test/fail": { params: z.object({ kind: z.enum(["typed", "plain", "string", "invalid-result"]) }), result: z.object({ ok: z.literal(true) }) },
    "test/wait": { params: z.object({ ignoreCancel: z.boolean() }), result: z.object({ finished: z.boolean() }) },
    "test/unhandled": { params: z.object({}), result: z.object({}) },
  },
  events: { "test/ping": z.object({ n: z.number().int() }) },
} satisfies ProtocolSide;
const client = { requests: {}, events: { "test/tick": z.object({ job: z.number(), n: z.number() }) } } satisfies ProtocolSide;

interface Logged {
  level: LogLevel;
  message: string;
}

function pair(opts: { cancelGraceMs?: number; onUnansweredCancel?: () => void } = {}) {
  const logs = { server: [] as Logged[], client: [] as Logged[] };
  const wire = { toServer: [] as Envelope[], toClient: [] as Envelope[] };
  // Asynchronous delivery through a structured clone, like IPC/postMessage.
  const s: Rpc<typeof server, typeof client> = new Rpc(
    server,
    client,
    {
      send: (m) => {
        wire.toClient.push(m);
        const c = structuredClone(m);
        setImmediate(() => c2.receive(c));
      },
    },
    { name: "server", log: (level, message) => logs.server.push({ level, message }) },
  );
  const c2: Rpc<typeof client, typeof server> = new Rpc(
    client,
    server,
    {
      send: (m) => {
        wire.toServer.push(m);
        const c = structuredClone(m);
        setImmediate(() => s.receive(c));
      },
    },
    { name: "client", log: (level, message) => logs.client.push({ level, message }), ...opts },
  );
  const calls = { add: 0, unhandled: 0, waitAborted: 0 };
  s.handle("test/add", (p) => {
    calls.add++;
    return { sum: p.a + p.b };
  });
  s.handle("test/fail", (p) => {
    if (p.kind === "typed") throw new TypedError("model.safetensors: tensor x is missing; re-export the checkpoint");
    if (p.kind === "plain") throw new Error("plain failure");
    if (p.kind === "string") throw "a thrown string";
    return { ok: false } as never;
  });
  s.handle(
    "test/wait",
    (p, ctx) =>
      new Promise((resolve, reject) => {
        const t = setTimeout(() => resolve({ finished: true }), p.ignoreCancel ? 400 : 5000);
        if (!p.ignoreCancel)
          ctx.signal.addEventListener("abort", () => {
            calls.waitAborted++;
            clearTimeout(t);
            reject(new Error("aborted"));
          });
      }),
  );
  return { s, c: c2, logs, wire, calls };
}

const until = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("protocol: request round trip validates and applies defaults", async () => {
  const { c, calls } = pair();
  assert.deepEqual(await c.request("test/add", { a: 2, b: 3 }), { sum: 5 });
  assert.deepEqual(await c.request("test/add", { a: 2 }), { sum: 12 });
  assert.equal(calls.add, 2);
});

test("protocol: invalid params are refused before sending, with the field named", async () => {
  const { c, wire } = pair();
  await assert.rejects(c.request("test/add", { a: "x" as unknown as number }), (e: unknown) => {
    assert.ok(e instanceof RpcError);
    assert.equal(e.code, "invalid-params");
    assert.match(e.message, /test\/add #\d+: invalid options: a: /);
    return true;
  });
  assert.equal(wire.toServer.length, 0);
});

test("protocol: a handler that throws answers with an error reply that rejects the promise", async () => {
  const { c, logs } = pair();
  await assert.rejects(c.request("test/fail", { kind: "typed" }, { label: "model.safetensors" }), (e: unknown) => {
    assert.ok(e instanceof RpcError);
    assert.equal(e.code, "model-error");
    assert.equal(e.remoteName, "ModelError");
    assert.match(e.message, /tensor x is missing; re-export/);
    assert.match(e.job ?? "", /^test\/fail #\d+/);
    return true;
  });
  await assert.rejects(c.request("test/fail", { kind: "plain" }), { code: "internal", message: "plain failure" });
  await assert.rejects(
    c.request("test/fail", { kind: "string" }),
    (e: unknown) => e instanceof RpcError && e.code === "internal" && /a thrown string/.test(e.message),
  );
  await assert.rejects(
    c.request("test/fail", { kind: "invalid-result" }),
    (e: unknown) => e instanceof RpcError && e.code === "invalid-result" && /result\.ok/.test(e.message),
  );
  assert.ok(logs.server.some((l) => /produced an invalid result/.test(l.message)));
});

test("protocol: a method without a handler is answered unknown-method", async () => {
  const { c } = pair();
  await assert.rejects(
    c.request("test/unhandled", {}),
    (e: unknown) => e instanceof RpcError && e.code === "unknown-method" && /does not handle test\/unhandled/.test(e.message),
  );
});

test("protocol: cancellation by id aborts the handler and rejects with cancelled", async () => {
  const { c, calls, wire } = pair();
  const ac = new AbortController();
  const p = c.request("test/wait", { ignoreCancel: false }, { signal: ac.signal });
  await until(20);
  ac.abort();
  await assert.rejects(p, (e: unknown) => e instanceof RpcError && e.code === "cancelled");
  assert.equal(calls.waitAborted, 1);
  const cancel = wire.toServer.find((m) => m.kind === "cancel");
  const req = wire.toServer.find((m) => m.kind === "request");
  assert.ok(cancel && req && cancel.kind === "cancel" && cancel.target === req.id);
  // Already aborted: rejected without sending anything.
  const before = wire.toServer.length;
  await assert.rejects(c.request("test/wait", { ignoreCancel: false }, { signal: AbortSignal.abort() }), { code: "cancelled" });
  assert.equal(wire.toServer.length, before);
});

test("protocol: a cancel the other side does not confirm rejects after the grace period and reports it", async () => {
  let unanswered = 0;
  const { c } = pair({ cancelGraceMs: 50, onUnansweredCancel: () => unanswered++ });
  const ac = new AbortController();
  const p = c.request("test/wait", { ignoreCancel: true }, { signal: ac.signal });
  await until(10);
  ac.abort();
  const t0 = Date.now();
  await assert.rejects(p, (e: unknown) => e instanceof RpcError && e.code === "cancelled" && /did not confirm/.test(e.message));
  assert.ok(Date.now() - t0 < 300);
  assert.equal(unanswered, 1);
  await until(450); // the ignored handler's late answer arrives and is dropped, not delivered
});

test("protocol: malformed and unknown messages are rejected, logged and never acted on", async () => {
  const { s, calls, logs, wire } = pair();
  const junk: unknown[] = [
    null,
    42,
    "request",
    [],
    {},
    { kind: "request" },
    { kind: "request", id: -1, method: "test/add", params: { a: 1 } },
    { kind: "request", id: 1.5, method: "test/add", params: { a: 1 } },
    { kind: "request", id: 3, method: "no-namespace", params: {} },
    { kind: "bogus", id: 4 },
    { kind: "result", id: 5 },
    { kind: "error", id: 6, inReplyTo: 1, error: { message: 3 } },
    { kind: "event", id: 7, method: "test/ping", params: { n: "x" } },
    { kind: "event", id: 8, method: "test/nope", params: {} },
    { kind: "cancel", id: 9, target: "x" },
    { kind: "result", id: 10, inReplyTo: 999, result: {} },
  ];
  for (const j of junk) s.receive(j);
  await until(20);
  assert.equal(calls.add, 0);
  assert.equal(wire.toClient.length, 0, "nothing without a valid request id is answered");
  assert.ok(logs.server.length >= junk.length - 1, `each junk message logged (${logs.server.length})`);
  // Well-formed envelopes with bad params or unknown methods are answered with errors, never run.
  s.receive({ kind: "request", id: 100, method: "test/add", params: { a: "1" } });
  s.receive({ kind: "request", id: 101, method: "test/missing", params: {} });
  await until(20);
  const errors = wire.toClient.filter((m) => m.kind === "error");
  assert.deepEqual(
    errors.map((m) => m.kind === "error" && [m.inReplyTo, m.error.code]),
    [
      [100, "invalid-params"],
      [101, "unknown-method"],
    ],
  );
  assert.equal(calls.add, 0);
});

test("protocol: events are validated; listeners get parsed params; a throwing listener is contained", async () => {
  const { s, c, logs } = pair();
  const got: number[] = [];
  s.on("test/ping", (p) => got.push(p.n));
  s.on("test/ping", () => {
    throw new Error("listener bug");
  });
  c.notify("test/ping", { n: 1 });
  c.notify("test/ping", { n: 1.5 }); // invalid: never sent
  s.receive({ kind: "event", id: 77, method: "test/ping", params: { n: 2 } });
  await until(20);
  assert.deepEqual(got, [2, 1]);
  assert.ok(logs.client.some((l) => /not sending event test\/ping/.test(l.message)));
  assert.ok(logs.server.some((l) => /listener of test\/ping threw: listener bug/.test(l.message)));
});

test("protocol: a result that fails its schema rejects the caller with invalid-result", async () => {
  const sent: Envelope[] = [];
  const c = new Rpc(client, server, { send: (m) => void sent.push(m) });
  const p = c.request("test/add", { a: 1 });
  const req = sent[0]!;
  c.receive({ kind: "result", id: 1, inReplyTo: req.id, result: { sum: "nope" } });
  await assert.rejects(p, (e: unknown) => e instanceof RpcError && e.code === "invalid-result" && /result\.sum/.test(e.message));
});

test("protocol: dispose and failAll reject what is pending; a failing transport rejects with send-failed", async () => {
  const c = new Rpc(client, server, { send: () => undefined });
  const p1 = c.request("test/add", { a: 1 });
  const p2 = c.request("test/add", { a: 2 }, { label: "m.safetensors" });
  assert.equal(c.pendingRequests().length, 2);
  c.failAll((info) => new RpcError("worker-exited", `${info.job} failed: gone`, info.job));
  await assert.rejects(p1, { code: "worker-exited" });
  await assert.rejects(p2, (e: unknown) => e instanceof RpcError && /test\/add #\d+ \(m\.safetensors\) failed: gone/.test(e.message));
  const p3 = c.request("test/add", { a: 3 });
  c.dispose();
  await assert.rejects(p3, { code: "disposed" });
  await assert.rejects(c.request("test/add", { a: 4 }), { code: "disposed" });
  const broken = new Rpc(client, server, {
    send: () => {
      throw new Error("channel closed");
    },
  });
  await assert.rejects(broken.request("test/add", { a: 1 }), { code: "send-failed" });
  assert.equal(broken.pendingRequests().length, 0);
});

test("protocol: a duplicate request id while the first runs is refused", async () => {
  const { s, wire } = pair();
  s.receive({ kind: "request", id: 500, method: "test/wait", params: { ignoreCancel: true } });
  s.receive({ kind: "request", id: 500, method: "test/add", params: { a: 1 } });
  await until(20);
  const err = wire.toClient.find((m) => m.kind === "error");
  assert.ok(err && err.kind === "error" && err.error.code === "duplicate-id" && err.inReplyTo === 500);
  await until(450);
});

test("protocol: progress throttle passes ≤ 1 per interval plus phase changes and final steps, and keeps the last", async () => {
  let now = 0;
  const sent: ProgressUpdate[] = [];
  const p = throttleProgress(
    (u) => sent.push(u),
    250,
    () => now,
  );
  p({ phase: "read", done: 0, total: 100 });
  for (let i = 1; i < 100; i++) {
    now += 1;
    p({ phase: "read", done: i, total: 100 });
  }
  assert.deepEqual(
    sent.map((u) => u.done),
    [0],
  ); // 99 ms elapsed: all held
  now += 200;
  p({ phase: "read", done: 99.5, total: 100 });
  assert.deepEqual(
    sent.map((u) => u.done),
    [0, 99.5],
  );
  p({ phase: "read", done: 100, total: 100 }); // final step passes at once
  p({ phase: "write", done: 0, total: 5 }); // phase change passes at once
  p({ phase: "write", done: 1, total: 5 }); // held…
  p.flush(); // …until flushed
  assert.deepEqual(
    sent.map((u) => `${u.phase}:${u.done}`),
    ["read:0", "read:99.5", "read:100", "write:0", "write:1"],
  );
  p({ phase: "write", done: 2, total: 5 });
  p.dispose();
  p.flush();
  p({ phase: "write", done: 3, total: 5 });
  assert.equal(sent.length, 5);
  // Real timers: a held update is delivered on its own when its slot comes.
  const real: ProgressUpdate[] = [];
  const q = throttleProgress((u) => real.push(u), 40);
  q({ phase: "a", done: 0, total: 9 });
  q({ phase: "a", done: 5, total: 9 });
  await until(80);
  assert.deepEqual(
    real.map((u) => u.done),
    [0, 5],
  );
  q.dispose();
});
