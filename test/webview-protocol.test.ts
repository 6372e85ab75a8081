/**
 * The extension ⇄ webview contract without a browser: the page's CSP, the message schemas (what is
 * accepted and what is dropped), the worker-result → view mappings, and the output-folder rules.
 */
import test from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { makeNonce, renderPage } from "../src/extension/html";
import { evalSizes, evalSummary, inspectData, modelRef } from "../src/extension/displayShapes";
import { defaultOutput, outputProblem, parseRatios } from "../src/extension/outputPath";
import { Rpc } from "../src/protocol/rpc";
import { matchTableSchema } from "../src/protocol/shareSchemas";
import { hostSide, webviewSide } from "../src/protocol/webview";

/**
 * Whether the extension host acts on a webview message `{ type, ...params }`: it arrives as the real
 * envelope (a request or event named `webview/<type>`) at the host's Rpc, whose handlers record what ran.
 */
async function hostActsOn(m: unknown): Promise<boolean> {
  const acted: string[] = [];
  const rpc = new Rpc(hostSide, webviewSide, { send: () => undefined }, { name: "host" });
  for (const method of Object.keys(hostSide.requests) as (keyof typeof hostSide.requests)[])
    rpc.handle(method, (() => {
      acted.push(method);
      return {};
    }) as never);
  rpc.on("webview/openLogs", () => void acted.push("webview/openLogs"));
  if (typeof m === "object" && m !== null && "type" in m) {
    const { type, ...params } = m as { type: unknown };
    const method = `webview/${String(type)}`;
    rpc.receive(method in hostSide.events ? { kind: "event", id: 1, method, params } : { kind: "request", id: 1, method, params });
  } else {
    rpc.receive(m);
  }
  await new Promise((r) => setImmediate(r));
  rpc.dispose();
  return acted.length > 0;
}

test("webview page: strict CSP with a fresh nonce, nothing inline but the nonce'd script, title escaped", () => {
  const a = renderPage({
    cspSource: "https://x.vscode-cdn.net",
    scriptUri: "https://x/dist/webview.js",
    styleUri: "https://x/media/webview.css",
    title: "<img src=x onerror=alert(1)>",
  });
  const b = renderPage({ cspSource: "https://x.vscode-cdn.net", scriptUri: "https://x/dist/webview.js", styleUri: "https://x/media/webview.css", title: "t" });
  const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(a)![1]!.replace(/&#39;/g, "'");
  const nonce = /script-src 'nonce-([^']+)'/.exec(csp)![1]!;
  assert.match(
    csp,
    /^default-src 'none'; script-src 'nonce-[^']+'; style-src https:\/\/x\.vscode-cdn\.net 'nonce-[^']+'; font-src https:\/\/x\.vscode-cdn\.net; img-src https:\/\/x\.vscode-cdn\.net data: blob:$/,
  );
  assert.doesNotMatch(csp, /unsafe-(inline|eval)/);
  assert.equal(Buffer.from(nonce, "base64").length, 16);
  assert.notEqual(nonce, /script-src 'nonce-([^']+)'/.exec(b.replace(/&#39;/g, "'"))![1]);
  assert.equal((a.match(/<script/g) ?? []).length, 1);
  assert.match(a, new RegExp(`<script nonce="${nonce.replace(/[+/=]/g, (c) => `\\${c}`)}" src="https://x/dist/webview.js"></script>`));
  assert.doesNotMatch(a, /<img/);
  assert.doesNotMatch(a, /style="/);
  assert.notEqual(makeNonce(), makeNonce());
});

function table(L: number, U: number) {
  const entries = [];
  for (let l = 1; l < L; l++) for (let u = 0; u < U; u++) entries.push({ layer: l, unit: u, sourceLayer: l - 1, sourceUnit: u, score: 0.5 });
  return {
    format: "headshare.match",
    version: 1,
    strategy: "qk",
    granularity: "group",
    layers: L,
    unitsPerLayer: U,
    parametersPerUnit: 10,
    bytesPerUnit: 40,
    parameters: 1000,
    entries,
  };
}

test("webview protocol: match tables are checked for consistency before they reach the map", () => {
  assert.ok(matchTableSchema.safeParse(table(5, 4)).success);
  const short = table(5, 4);
  short.entries.pop();
  assert.match(matchTableSchema.safeParse(short).error!.issues[0]!.message, /expected \(layers-1\)·units = 16/);
  const upward = table(3, 2);
  upward.entries[0]!.sourceLayer = 1;
  assert.equal(matchTableSchema.safeParse(upward).success, false);
  const nan = table(3, 2);
  nan.entries[1]!.score = NaN;
  assert.equal(matchTableSchema.safeParse(nan).success, false);
  assert.equal(
    webviewSide.events["webview/init"].safeParse({ view: "map", model: { path: "/m", name: "m" }, table: table(3, 2), ratio: 0.3, canEval: true }).success,
    true,
  );
  assert.equal(
    webviewSide.events["webview/init"].safeParse({ view: "map", model: { path: "/m", name: "m" }, table: table(3, 2), ratio: 1.5, canEval: true }).success,
    false,
  );
});

test("webview protocol: messages from the webview are refused unless well-formed (file names, sizes, ratios, types)", async () => {
  const ok = hostActsOn;
  assert.ok(await ok({ type: "ready" }));
  assert.ok(await ok({ type: "export", format: "json", suggestedName: "plan-0.30.json", data: "{}" }));
  assert.ok(!(await ok({ type: "export", format: "json", suggestedName: "../../etc/passwd", data: "{}" })));
  assert.ok(!(await ok({ type: "export", format: "json", suggestedName: "a/b.json", data: "{}" })));
  assert.ok(!(await ok({ type: "export", format: "exe", suggestedName: "a.exe", data: "" })));
  assert.ok(!(await ok({ type: "quickEval", ratio: -0.1 })));
  assert.ok(!(await ok({ type: "quickEval", ratio: "0.3" })));
  assert.ok(!(await ok({ type: "runCommand", command: "workbench.action.terminal.new" })));
  assert.ok(!(await ok(null)));
  assert.ok(!(await ok("ready")));
  // A quick-eval answer with a NaN is refused by the webview (the reply's schema).
  assert.ok(
    !hostSide.requests["webview/quickEval"].result.safeParse({
      ratio: 0.3,
      tokens: 1,
      protocol: "",
      provider: "cpu",
      original: { nll: NaN, ppl: 1 },
      shared: { nll: 1, ppl: 1 },
      kl: null,
      top1Agreement: null,
      hiddenCosine: [],
      seconds: null,
    }).success,
  );
});

test("webview mapping: eval runs original-vs-shared (model = original, compare = shared) into the panel's shape", () => {
  const r = {
    tokens: 14552,
    nll: 1.2224,
    ppl: 3.3953,
    protocol: { kind: "documents" as const, window: 512, bos: true, windows: 45, description: "documents, window 512" },
    provider: "cpu" as const,
    seconds: 5,
    parameters: 260032,
    bytes: 1040128,
    kl: 0.1,
    top1Agreement: 0.9,
    hiddenCosine: [1, 0.99],
    compare: { nll: 1.5, ppl: 4.48, parameters: 241600, bytes: 966400 },
  };
  const ev = evalSummary(r, 0.3, 2);
  assert.deepEqual(ev, {
    ratio: 0.3,
    tokens: 14552,
    protocol: "documents, window 512",
    provider: "cpu",
    original: { nll: 1.2224, ppl: 3.3953 },
    shared: { nll: 1.5, ppl: 4.48 },
    kl: 0.1,
    top1Agreement: 0.9,
    hiddenCosine: [1, 0.99],
    seconds: 2,
  });
  const { compare: _c, ...alone } = r;
  assert.throws(() => evalSummary(alone, 0.3, 1), /no comparison model/);
  assert.deepEqual(evalSizes(r), { parameters: { before: 260032, after: 241600 }, bytes: { before: 1040128, after: 966400 } });
  assert.deepEqual(modelRef("/m/stories260K-hf/model.safetensors"), { path: "/m/stories260K-hf/model.safetensors", name: "stories260K-hf" });
  assert.deepEqual(modelRef("/m/stories260K-hf"), { path: "/m/stories260K-hf", name: "stories260K-hf" });
  const summary = {
    path: "/m",
    architecture: "LlamaForCausalLM",
    family: "llama",
    layers: 5,
    heads: 8,
    kvHeads: 4,
    headDim: 8,
    hidden: 64,
    parameters: 10,
    bytes: 40,
    attentionParameters: 4,
    dtypes: { F32: 10 },
    tensors: [{ name: "a", dtype: "F32", shape: [10], bytes: 40 }],
    metadata: {},
    plan: null,
    modelError: null,
    extraKey: 1,
  };
  assert.equal("extraKey" in inspectData(summary), false);
  assert.throws(() => inspectData({ ...summary, tensors: undefined }), /not in the expected shape: tensors/);
});

test("webview host rules: the output folder is never the input, its ancestor or inside it; ratios parse strictly", () => {
  const dir = path.resolve("/data/models/stories260K-hf");
  assert.equal(defaultOutput(dir, 0.3, "compact", "directshare"), path.resolve("/data/models/stories260K-hf-shared-30"));
  assert.equal(defaultOutput(dir, 0.25, "dense", "postshare"), path.resolve("/data/models/stories260K-hf-postshare-25-dense"));
  assert.equal(outputProblem(dir, defaultOutput(dir, 0.3, "compact", "directshare")), undefined);
  assert.match(outputProblem(dir, dir)!, /never over the input/);
  assert.match(outputProblem(dir, dir + path.sep)!, /never over the input/);
  assert.match(outputProblem(dir, path.resolve("/data/models"))!, /contains the input/);
  assert.match(outputProblem(dir, path.resolve("/"))!, /contains the input/);
  assert.match(outputProblem(dir, path.join(dir, "out"))!, /inside the input/);
  assert.match(outputProblem(dir, "relative/out")!, /absolute/);
  assert.deepEqual(parseRatios("0.3, 0 0.1;0.3"), [0, 0.1, 0.3]);
  assert.throws(() => parseRatios("0.1, 1"), /"1" must be a number from 0 to below 1/);
  assert.throws(() => parseRatios("abc"), /"abc"/);
  assert.throws(() => parseRatios(" , "), /at least one ratio/);
});

test("webview RPC: host and webview wired back to back — handshake, refused params never reach the handler, cancel reaches it", async () => {
  const { Rpc } = await import("../src/protocol/rpc");
  const { hostSide, webviewSide } = await import("../src/protocol/webview");
  // Two ends joined by asynchronous delivery (like postMessage).
  let toWebview: (m: unknown) => void = () => undefined;
  let toHost: (m: unknown) => void = () => undefined;
  const host = new Rpc(hostSide, webviewSide, { send: (m) => setTimeout(() => toWebview(structuredClone(m)), 0) });
  const view = new Rpc(webviewSide, hostSide, { send: (m) => setTimeout(() => toHost(structuredClone(m)), 0) });
  toWebview = (m) => view.receive(m);
  toHost = (m) => host.receive(m);

  const init = { view: "map" as const, model: { path: "/m", name: "m" }, table: table(3, 2), ratio: 0.3, canEval: true };
  host.handle("webview/ready", () => init as never);
  let exportCalls = 0;
  host.handle("webview/export", () => {
    exportCalls++;
    return { path: "/x" };
  });
  let aborted = false;
  host.handle(
    "webview/quickEval",
    (_p, ctx) =>
      new Promise((_resolve, reject) => {
        ctx.signal.addEventListener("abort", () => {
          aborted = true;
          reject(Object.assign(new Error("stopped"), { code: "cancelled" }));
        });
      }),
  );
  host.handle("webview/compress", () => ({}));

  const got = await view.request("webview/ready", {});
  assert.equal(got.view, "map");
  await assert.rejects(view.request("webview/export", { format: "json", suggestedName: "../escape.json", data: "{}" }), /plain file name/);
  // A hand-made request that skips the sender's own check is answered with an error reply by the host.
  const raw: unknown[] = [];
  toWebview = (m) => {
    raw.push(m);
    view.receive(m);
  };
  host.receive({ kind: "request", id: 99, method: "webview/export", params: { format: "json", suggestedName: "..", data: "{}" } });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(exportCalls, 0);
  assert.equal((raw.find((m) => (m as { inReplyTo?: number }).inReplyTo === 99) as { kind: string; error: { code: string } }).error.code, "invalid-params");
  const ac = new AbortController();
  const q = view.request("webview/quickEval", { ratio: 0.3 }, { signal: ac.signal });
  await new Promise((r) => setTimeout(r, 10));
  ac.abort();
  await assert.rejects(q, (e: unknown) => (e as { code?: string }).code === "cancelled");
  assert.equal(aborted, true);
  host.dispose();
  view.dispose();
});
