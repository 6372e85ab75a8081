/**
 * Fuzz targets of the message boundaries. Random and mutated messages go into:
 *  - the worker's server (`serveWorker` over a recording transport; every job a spy that
 *    returns, throws typed/untyped/huge/odd errors): a job runs only for a well-formed request of
 *    its method with params its schema accepts; every request-shaped message gets exactly one
 *    reply; everything sent back is itself a well-formed envelope the client accepts;
 *  - the client side (`Rpc` with one pending request): the caller's promise only resolves with a
 *    result its schema accepts, listeners only see valid events;
 *  - the webview messages in both directions (zod schemas): parsing never throws and accepted
 *    messages are safe to act on.
 * An input message is never modified (checked with a deep copy).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { envelopeSchema, type Envelope } from "../../../src/protocol/envelope";
import { Rpc, RpcError } from "../../../src/protocol/rpc";
import { hostSide, MAX_EXPORT_CHARS, webviewSide } from "../../../src/protocol/webview";
import { clientSide, workerRequests, workerSide, type WorkerJob } from "../../../src/protocol/worker";
import { jobTable } from "../../../src/worker/jobTable";
import { serveWorker, type JobTable } from "../../../src/worker/serve";
import type { FuzzTarget } from "../harness";
import { applyJsonOps, jsonOpArb, sameValue, weirdJsonArb } from "../jsonMutate";
import { oursTableArb } from "./share";

const METHODS = Object.keys(workerRequests) as (keyof typeof workerRequests)[];
const JOBS = METHODS.filter((m) => m !== "headshare/initialize" && m !== "headshare/shutdown") as WorkerJob[];
/** Independent of the envelope code: what a request-shaped message looks like. */
const METHOD_NAME = /^[a-z][a-zA-Z0-9-]*(\/[a-zA-Z0-9-]+)+$/;

const tableArb = oursTableArb.filter((t) => (t.layers as number) >= 2);
/** Plausible params per method (then mutated): enough to reach acceptance for several methods. */
const paramsArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.constant({ protocolVersion: 1, providers: "auto" }),
  fc.constant({ protocolVersion: 1, providers: ["cpu"] }),
  fc.constantFrom({ model: "/models/tiny" }, { model: "C:\\models\\tiny" }, { model: "relative/path" }, { model: "" }),
  fc.record({
    model: fc.constant("/models/tiny"),
    strategy: fc.constantFrom("q", "qk", "qkv", "x"),
    granularity: fc.constantFrom("group", "query-head", "head"),
  }),
  fc.record({ table: tableArb, ratio: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), weirdJsonArb) }),
  fc.record({
    model: fc.constant("/m"),
    ratio: fc.constant(0.3),
    out: fc.constantFrom("/out", "out", "/m"),
    format: fc.constantFrom("compact", "dense", "zip"),
    force: fc.boolean(),
  }),
  fc.record({ compact: fc.constant("/c"), out: fc.constant("/o") }),
  fc.constant({}),
);

/** Well-formed requests with params made for their method (most are accepted). */
const validRequestArb: fc.Arbitrary<unknown> = fc
  .record({
    id: fc.nat({ max: 5 }),
    req: fc.oneof(
      fc.record({ method: fc.constant("headshare/inspect"), params: fc.record({ model: fc.constantFrom("/models/tiny", "C:\\m") }) }),
      fc.record({
        method: fc.constant("headshare/match"),
        params: fc.record({
          model: fc.constant("/m"),
          strategy: fc.constantFrom("q", "k", "v", "qk", "qkv"),
          granularity: fc.constantFrom("group", "query-head"),
        }),
      }),
      fc.record({ method: fc.constant("headshare/plan"), params: fc.record({ table: tableArb, ratio: fc.double({ min: 0, max: 1, noNaN: true }) }) }),
      fc.record({
        method: fc.constant("headshare/share"),
        params: fc.record({ model: fc.constant("/m"), ratio: fc.constant(0.3), out: fc.constant("/out"), format: fc.constantFrom("compact", "dense") }),
      }),
      fc.record({ method: fc.constant("headshare/expand"), params: fc.record({ compact: fc.constant("/c"), out: fc.constant("/o") }) }),
    ),
  })
  .map(({ id, req }) => ({ kind: "request", id, ...req }));

const rawMessageArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 2, arbitrary: weirdJsonArb },
  { weight: 3, arbitrary: validRequestArb },
  {
    weight: 6,
    arbitrary: fc
      .record(
        {
          kind: fc.oneof(fc.constant("request"), fc.constantFrom("request", "result", "error", "event", "cancel", "Request", "")),
          id: fc.oneof(fc.nat({ max: 5 }), weirdJsonArb),
          method: fc.oneof(
            fc.constantFrom(...METHODS),
            fc.constantFrom(
              "headshare/nope",
              "headshare/__proto__",
              "toString",
              "constructor",
              "headshare/progress",
              "headshare/status",
              "a/b",
              "headshare/match/",
            ),
          ),
          params: paramsArb,
          inReplyTo: fc.nat({ max: 5 }),
          target: fc.nat({ max: 5 }),
          error: fc.oneof(fc.record({ message: fc.string(), code: fc.string() }), weirdJsonArb),
          result: weirdJsonArb,
        },
        { requiredKeys: ["kind"] },
      )
      .chain((m) => fc.array(jsonOpArb, { maxLength: 2 }).map((ops) => (ops.length ? applyJsonOps(m, ops) : m))),
  },
);

type Behaviour = "invalid-result" | "throw-typed" | "throw-string" | "throw-null" | "throw-huge" | "throw-odd" | "reject-later";

function misbehave(b: Behaviour): Promise<never> | never {
  switch (b) {
    case "invalid-result":
      return { wrong: true } as never;
    case "throw-typed":
      throw Object.assign(new Error("/models/tiny: config.json is broken"), { name: "ModelError", code: "bad-config" });
    case "throw-string":
      throw "boom";
    case "throw-null":
      throw null;
    case "throw-huge":
      throw Object.assign(new Error(`/models/tiny: ${"x".repeat(100_000)}`), { code: `c${"y".repeat(500)}` });
    case "throw-odd": {
      // An Error whose message and code are not strings (a careless library) — the reply must still go out.
      const e = new Error("odd");
      Object.defineProperty(e, "message", {
        get: () => {
          throw new Error("message getter");
        },
      });
      throw e;
    }
    case "reject-later":
      return new Promise((_, rej) => setTimeout(() => rej(new Error("late")), 1));
  }
}

interface WorkerCase {
  readonly messages: readonly unknown[];
  readonly behaviour: Behaviour;
}

/** Lets handler promise chains (and the 1 ms "reject-later" timer when `timers`) run out. */
async function settle(timers = false): Promise<void> {
  for (let i = 0; i < 6; i++) await new Promise((r) => setImmediate(r));
  if (timers) {
    await new Promise((r) => setTimeout(r, 2));
    for (let i = 0; i < 6; i++) await new Promise((r) => setImmediate(r));
  }
}

const workerTarget: FuzzTarget<WorkerCase> = {
  name: "protocol.worker-receive",
  weight: 6,
  arb: fc.record({
    messages: fc.array(rawMessageArb, { minLength: 1, maxLength: 3 }),
    behaviour: fc.constantFrom<Behaviour>("invalid-result", "throw-typed", "throw-string", "throw-null", "throw-huge", "throw-odd", "reject-later"),
  }),
  async run(c) {
    const sent: Envelope[] = [];
    const logs: string[] = [];
    const calls: { method: string; params: unknown }[] = [];
    const table: Record<string, unknown> = {};
    for (const m of JOBS)
      table[m] = {
        run: (params: unknown) => {
          calls.push({ method: m, params });
          return misbehave(c.behaviour);
        },
      };
    const server = serveWorker(table as JobTable, { send: (m) => void sent.push(m) }, { log: (_l, msg) => logs.push(msg), onShutdown: () => undefined });
    const copies = c.messages.map((m) => structuredClone(m));
    for (const m of c.messages) server.rpc.receive(m);
    await settle(c.behaviour === "reject-later");
    await server.stop(50);
    server.rpc.dispose();
    return { sent, logs, calls, copies };
  },
  check(c, r) {
    const { sent, calls, copies } = r as { sent: Envelope[]; logs: string[]; calls: { method: string; params: unknown }[]; copies: unknown[] };
    c.messages.forEach((m, i) => assert.ok(sameValue(m, copies[i]), "a received message was modified"));
    // Jobs ran only for well-formed requests of their method, with params their schema accepts.
    for (const call of calls) {
      const def = workerRequests[call.method as keyof typeof workerRequests];
      assert.ok(def.params.safeParse(call.params).success, `${call.method} ran with params its schema rejects`);
      assert.ok(
        c.messages.some((m) => isObj(m) && m.kind === "request" && m.method === call.method),
        `${call.method} ran without a request for it`,
      );
    }
    // Every request-shaped message is answered exactly once; everything sent is a well-formed envelope.
    // (A request without params is malformed as a whole: dropped and logged, not answered.)
    const requestLike = c.messages.filter(
      (m) =>
        isObj(m) &&
        m.kind === "request" &&
        "params" in m &&
        Number.isSafeInteger(m.id) &&
        (m.id as number) >= 0 &&
        typeof m.method === "string" &&
        m.method.length >= 3 &&
        m.method.length <= 120 &&
        METHOD_NAME.test(m.method),
    );
    const replies = sent.filter((s) => s.kind === "result" || s.kind === "error");
    assert.equal(replies.length, requestLike.length, `${requestLike.length} request(s) got ${replies.length} replies`);
    for (const s of sent) {
      const ok = envelopeSchema.safeParse(JSON.parse(JSON.stringify(s)));
      assert.ok(ok.success, `the worker sent a message the client would reject as malformed: ${JSON.stringify(s).slice(0, 300)}`);
    }
    for (const s of replies)
      if (s.kind === "error") assert.ok(s.error.message.length > 0 && typeof s.error.code === "string", "error replies carry a message and a code");
  },
  label: (_c, r) => ((r as { calls: unknown[] }).calls.length ? "job ran (and failed, answered)" : "rejected, never acted on"),
};

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

interface ClientCase {
  readonly messages: readonly unknown[];
}

const clientTarget: FuzzTarget<ClientCase> = {
  name: "protocol.client-receive",
  weight: 4,
  arb: fc.record({
    messages: fc.array(
      fc.oneof(
        rawMessageArb,
        fc.record({
          kind: fc.constant("result"),
          id: fc.nat({ max: 9 }),
          inReplyTo: fc.constant(1),
          result: fc.oneof(weirdJsonArb, fc.constant({ protocolVersion: 1, pid: 5, node: "v20" }), fc.constant({ protocolVersion: 2, pid: 5, node: "v20" })),
        }),
        fc.record({
          kind: fc.constant("event"),
          id: fc.nat({ max: 9 }),
          method: fc.constantFrom("headshare/progress", "headshare/status"),
          params: fc.oneof(
            weirdJsonArb,
            fc.record({
              job: fc.oneof(fc.nat(), weirdJsonArb),
              phase: fc.oneof(fc.string(), weirdJsonArb),
              done: fc.oneof(fc.nat(), weirdJsonArb),
              total: fc.nat(),
            }),
            fc.record({ state: fc.constantFrom("idle", "busy", "error"), provider: fc.constantFrom(null, "cpu", "gpu") }),
          ),
        }),
        fc.record({
          kind: fc.constant("error"),
          id: fc.nat({ max: 9 }),
          inReplyTo: fc.constant(1),
          error: fc.oneof(weirdJsonArb, fc.record({ message: fc.string(), code: fc.string(), job: fc.option(fc.string(), { nil: undefined }) })),
        }),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  }),
  async run(c) {
    const rpc = new Rpc(clientSide, workerSide, { send: () => undefined }, { name: "client" });
    const seen: { method: string; params: unknown }[] = [];
    rpc.on("headshare/progress", (p) => void seen.push({ method: "headshare/progress", params: p }));
    rpc.on("headshare/status", (p) => void seen.push({ method: "headshare/status", params: p }));
    const started = rpc.start("headshare/initialize", { protocolVersion: 1, providers: "auto" });
    let outcome: { ok: true; value: unknown } | { ok: false; err: unknown } | undefined;
    started.result.then(
      (value) => {
        outcome = { ok: true, value };
      },
      (err: unknown) => {
        outcome = { ok: false, err };
      },
    );
    for (const m of c.messages) rpc.receive(m);
    await settle();
    rpc.dispose();
    await settle();
    return { seen, outcome };
  },
  check(_c, r) {
    const { seen, outcome } = r as {
      seen: { method: "headshare/progress" | "headshare/status"; params: unknown }[];
      outcome?: { ok: boolean; value?: unknown; err?: unknown };
    };
    for (const s of seen) assert.ok(clientSide.events[s.method].safeParse(s.params).success, `a ${s.method} listener saw params its schema rejects`);
    assert.ok(outcome, "the pending request never settled (not even on dispose)");
    if (outcome.ok) assert.ok(workerRequests["headshare/initialize"].result.safeParse(outcome.value).success, "the caller got a result its schema rejects");
    else
      assert.ok(
        outcome.err instanceof RpcError && typeof outcome.err.code === "string" && outcome.err.message.length > 0,
        `the caller got an untyped rejection: ${String(outcome.err)}`,
      );
  },
  label: (_c, r) =>
    (r as { outcome?: { ok: boolean; err?: { code?: string } } }).outcome?.ok
      ? "request resolved with a valid result"
      : `request rejected (${(r as { outcome?: { err?: { code?: string } } }).outcome?.err?.code === "disposed" ? "nothing valid arrived" : "error reply or invalid result"})`,
};

// ---------------------------------------------------------------- the webview boundary's Rpc (both ends)

const exportSeeds = [
  { format: "png", suggestedName: "sharing-map.png", data: "iVBORw0KGgo=" },
  { format: "json", suggestedName: "plan.json", data: "{}" },
];
/** Export params with the names a hostile page might try. */
const exportParamsArb = fc.oneof(
  fc.constantFrom(...exportSeeds),
  fc.record({
    format: fc.constantFrom("svg", "png"),
    suggestedName: fc.oneof(
      fc.constantFrom("..", ".", "...", "a/b.png", "../x.png", "a\\b.png", "x.png\u0000", ".hidden.png", "-rf"),
      fc.string({ maxLength: 10 }),
    ),
    data: fc.constant("x"),
  }),
);
const hostRequestArb: fc.Arbitrary<unknown> = fc
  .record({
    id: fc.oneof(fc.nat({ max: 5 }), weirdJsonArb),
    req: fc.oneof(
      fc.constant({ method: "webview/ready", params: {} }),
      fc.record({
        method: fc.constantFrom("webview/quickEval", "webview/compress"),
        params: fc.record({ ratio: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), weirdJsonArb) }),
      }),
      fc.record({ method: fc.constant("webview/export"), params: exportParamsArb }),
      fc.record({ method: fc.constantFrom("webview/openLogs", "webview/init", "webview/progress", "webview/nope"), params: fc.constant({}) }),
    ),
    kind: fc.constantFrom("request", "request", "event", "cancel"),
    ops: fc.array(jsonOpArb, { maxLength: 2 }),
  })
  .map(({ id, req, kind, ops }) => applyJsonOps({ kind, id, ...req, target: 0 }, ops));

interface HostCase {
  readonly messages: readonly unknown[];
  readonly behaviour: Behaviour;
}
const HOST_REQUESTS = Object.keys(hostSide.requests) as (keyof typeof hostSide.requests)[];

const hostTarget: FuzzTarget<HostCase> = {
  name: "protocol.webview-host-receive",
  weight: 8,
  arb: fc.record({
    messages: fc.array(fc.oneof(hostRequestArb, rawMessageArb), { minLength: 1, maxLength: 3 }),
    behaviour: fc.constantFrom<Behaviour>("invalid-result", "throw-typed", "throw-huge", "throw-odd", "throw-null"),
  }),
  async run(c) {
    const sent: Envelope[] = [];
    const calls: { method: string; params: unknown }[] = [];
    const events: unknown[] = [];
    const rpc = new Rpc(hostSide, webviewSide, { send: (m) => void sent.push(m) }, { name: "host" });
    for (const m of HOST_REQUESTS)
      rpc.handle(m, ((params: unknown) => {
        calls.push({ method: m, params });
        return misbehave(c.behaviour);
      }) as never);
    rpc.on("webview/openLogs", (p) => void events.push(p));
    const copies = c.messages.map((m) => structuredClone(m));
    for (const m of c.messages) rpc.receive(m);
    await settle();
    rpc.dispose();
    return { sent, calls, events, copies };
  },
  check(c, r) {
    const { sent, calls, events, copies } = r as {
      sent: Envelope[];
      calls: { method: keyof typeof hostSide.requests; params: unknown }[];
      events: unknown[];
      copies: unknown[];
    };
    c.messages.forEach((m, i) => assert.ok(sameValue(m, copies[i]), "a received message was modified"));
    for (const call of calls) {
      assert.ok(hostSide.requests[call.method].params.safeParse(call.params).success, `${call.method} ran with params its schema rejects`);
      const p = call.params as { suggestedName?: string; data?: string; ratio?: number };
      if (call.method === "webview/export") {
        assert.ok(
          /^[\w.-]+$/.test(p.suggestedName!) && !/^\.+$/.test(p.suggestedName!),
          `an export name that is not a plain file name was accepted: ${JSON.stringify(p.suggestedName)}`,
        );
        assert.ok(p.data!.length <= MAX_EXPORT_CHARS);
      }
      if (p.ratio !== undefined) assert.ok(p.ratio >= 0 && p.ratio <= 1);
    }
    for (const e of events) assert.ok(hostSide.events["webview/openLogs"].safeParse(e).success, "openLogs listener saw invalid params");
    const requestLike = c.messages.filter(
      (m) =>
        isObj(m) &&
        m.kind === "request" &&
        "params" in m &&
        Number.isSafeInteger(m.id) &&
        (m.id as number) >= 0 &&
        typeof m.method === "string" &&
        m.method.length >= 3 &&
        m.method.length <= 120 &&
        METHOD_NAME.test(m.method),
    );
    assert.equal(sent.filter((s) => s.kind === "result" || s.kind === "error").length, requestLike.length, "one reply per request");
    for (const s of sent)
      assert.ok(envelopeSchema.safeParse(JSON.parse(JSON.stringify(s))).success, `the host sent a malformed envelope: ${JSON.stringify(s).slice(0, 300)}`);
  },
  label: (_c, r) => ((r as { calls: unknown[] }).calls.length ? "a handler ran (and answered)" : "rejected, never acted on"),
};

const webviewEventTarget: FuzzTarget<{ messages: readonly unknown[] }> = {
  name: "protocol.webview-receive",
  weight: 3,
  arb: fc.record({
    messages: fc.array(
      fc.oneof(
        rawMessageArb,
        fc.record({
          kind: fc.constant("event"),
          id: fc.nat({ max: 9 }),
          method: fc.constantFrom("webview/init", "webview/progress"),
          params: fc.oneof(
            weirdJsonArb,
            fc.record({
              job: fc.oneof(fc.string(), weirdJsonArb),
              message: fc.oneof(fc.string(), weirdJsonArb),
              fraction: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), weirdJsonArb),
            }),
            fc.constant({ view: "inspect" }),
          ),
        }),
      ),
      { minLength: 1, maxLength: 4 },
    ),
  }),
  async run(c) {
    const seen: { method: "webview/init" | "webview/progress"; params: unknown }[] = [];
    const sent: Envelope[] = [];
    const rpc = new Rpc(webviewSide, hostSide, { send: (m) => void sent.push(m) }, { name: "webview" });
    rpc.on("webview/init", (p) => void seen.push({ method: "webview/init", params: p }));
    rpc.on("webview/progress", (p) => void seen.push({ method: "webview/progress", params: p }));
    for (const m of c.messages) rpc.receive(m);
    await settle();
    rpc.dispose();
    return { seen, sent };
  },
  check(_c, r) {
    const { seen, sent } = r as { seen: { method: "webview/init" | "webview/progress"; params: unknown }[]; sent: Envelope[] };
    for (const s of seen) assert.ok(webviewSide.events[s.method].safeParse(s.params).success, `a ${s.method} listener saw params its schema rejects`);
    for (const s of sent) assert.ok(envelopeSchema.safeParse(JSON.parse(JSON.stringify(s))).success, "the webview sent a malformed envelope");
  },
  label: (_c, r) => ((r as { seen: unknown[] }).seen.length ? "an event was delivered" : "nothing delivered"),
};

// ---------------------------------------------------------------- the real worker jobs

/** Requests the real job table answers fast (no model to load): plans from (mutated) tables, inspect of odd paths. */
const realJobRequestArb: fc.Arbitrary<unknown> = fc
  .record({
    id: fc.nat({ max: 3 }),
    req: fc.oneof(
      {
        weight: 4,
        arbitrary: fc
          .record({
            method: fc.constant("headshare/plan"),
            params: fc.record({ table: tableArb, ratio: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom(0, 0.5, 0.75, 1)) }),
          })
          .chain((r) => fc.array(jsonOpArb, { maxLength: 2 }).map((ops) => ({ ...r, params: applyJsonOps(r.params, ops) }))),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          method: fc.constant("headshare/inspect"),
          params: fc.record({
            model: fc.constantFrom("/nonexistent/model", "/dev/null", "/proc/self/status", "/", "/tmp", "/etc/passwd.safetensors", "/dev/zero"),
          }),
        }),
      },
    ),
  })
  .map(({ id, req }) => ({ kind: "request", id, ...req }));

const realJobsTarget: FuzzTarget<{ messages: readonly unknown[] }> = {
  name: "protocol.worker-jobs",
  weight: 3,
  timeLimitMs: 3000,
  arb: fc.record({ messages: fc.array(realJobRequestArb, { minLength: 1, maxLength: 2 }) }),
  async run(c) {
    const sent: Envelope[] = [];
    let answered!: () => void;
    const allAnswered = new Promise<void>((r) => (answered = r));
    const replies = (): number => sent.filter((s) => s.kind === "result" || s.kind === "error").length;
    const server = serveWorker(
      jobTable,
      {
        send: (m) => {
          sent.push(m);
          if (replies() >= c.messages.length) answered();
        },
      },
      { onShutdown: () => undefined },
    );
    for (const m of c.messages) server.rpc.receive(m);
    // Wait for the answers (event driven: a loaded machine may take a while), at most 2.5 s.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      allAnswered,
      new Promise<void>((r) => {
        timer = setTimeout(r, 2500);
      }),
    ]);
    clearTimeout(timer);
    await server.stop(100);
    server.rpc.dispose();
    return sent;
  },
  check(c, r) {
    const replies = (r as Envelope[]).filter((s): s is Extract<Envelope, { kind: "result" | "error" }> => s.kind === "result" || s.kind === "error");
    assert.equal(replies.length, c.messages.length, "every request answered");
    for (const s of replies) {
      if (s.kind === "error")
        assert.ok(
          !["internal", "invalid-result"].includes(s.error.code),
          `a job failed with an untyped error (${s.error.code}): ${s.error.message.slice(0, 400)}`,
        );
    }
  },
  label: (_c, r) => `${(r as Envelope[]).filter((s) => s.kind === "result").length ? "some job succeeded" : "all rejected or failed (typed)"}`,
};

export const protocolTargets = [workerTarget, clientTarget, hostTarget, webviewEventTarget, realJobsTarget];
