// The host end of the Generate section (src/extension/panels/generateHost.ts) without VS Code: a
// webview-side Rpc asks "webview/generate" through an in-memory transport, the host runs the
// original and the shared model as two concurrent jobs on the real built worker (dist/worker.js,
// the demo model), streams "webview/generated" events, and answers with both continuations —
// equal to generateText's own; a shared checkpoint is run as itself; the webview's cancel stops
// both jobs; an empty prompt is refused.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Rpc, RpcError } from "../src/protocol/rpc";
import { hostSide, webviewSide } from "../src/protocol/webview";
import type { GeneratedEvent } from "../src/protocol/webviewGenerate";
import type { JobParams } from "../src/protocol/worker";
import { WorkerClient } from "../src/host/workerClient";
import { handleGenerate, type SharedSource } from "../src/extension/panels/generateHost";
import type { Session } from "../src/extension/session";
import type { WebviewConnection } from "../src/extension/panels/webview";
import { generateText } from "../src/core/generate/generateText";
import { openCheckpoint } from "../src/core/model/checkpoint";
import { resolvePlan } from "../src/core/export/plan";
import { writeShared } from "../src/core/share/write";

const DEMO = path.resolve(__dirname, "../../assets/demo-model");
const WORKER = path.resolve(__dirname, "../../dist/worker.js");

interface Harness {
  web: Rpc<typeof webviewSide, typeof hostSide>;
  events: GeneratedEvent[];
  /** The worker params of every job the host started, and the jobs' abort signals. */
  started: { params: JobParams<"headshare/generate">; signal: AbortSignal }[];
  /** Most jobs running at once. */
  peak: () => number;
  close: () => Promise<void>;
}

/** The host's Rpc wired to a webview-side Rpc in memory; a Session whose jobs run on a real worker. */
function harness(shared: () => SharedSource): Harness {
  const client = new WorkerClient({ workerPath: WORKER, providers: ["cpu"] });
  const started: Harness["started"] = [];
  let running = 0,
    peak = 0;
  const session = {
    settings: { strategy: "qk" },
    log: { info: () => undefined },
    jobs: {
      run: async <T>(_label: string, fn: (job: { controller: AbortController }) => Promise<T>): Promise<T> => {
        running++;
        peak = Math.max(peak, running);
        try {
          return await fn({ controller: new AbortController() });
        } finally {
          running--;
        }
      },
    },
    request: (
      job: { controller: AbortController },
      method: "headshare/generate",
      params: JobParams<"headshare/generate">,
      onProgress?: (p: unknown) => void,
    ) => {
      started.push({ params, signal: job.controller.signal });
      return client.request(method, params, { signal: job.controller.signal, ...(onProgress ? { onProgress } : {}) });
    },
  } as unknown as Session;
  let host: Rpc<typeof hostSide, typeof webviewSide> | undefined = undefined;
  const web = new Rpc(webviewSide, hostSide, { send: (m) => setImmediate(() => host!.receive(m)) }, { name: "webview" });
  host = new Rpc(hostSide, webviewSide, { send: (m) => setImmediate(() => web.receive(m)) }, { name: "host" });
  const conn = { rpc: host, dispose: () => undefined } as unknown as WebviewConnection;
  handleGenerate(session, conn, DEMO, shared);
  const events: GeneratedEvent[] = [];
  web.on("webview/generated", (e) => void events.push(e));
  return {
    web,
    events,
    started,
    peak: () => peak,
    close: async () => {
      web.dispose();
      host.dispose();
      await client.dispose();
    },
  };
}

const request = { prompt: "Once upon a time", maxTokens: 24, temperature: 0, topP: 1, seed: 0, ratio: 0.3 };

test(
  "generate host: original and shared run as two concurrent worker jobs, stream their text, and equal generateText",
  { skip: fs.existsSync(WORKER) ? false : "dist/worker.js is not built" },
  async () => {
    const h = harness(() => ({ kind: "ratio" }));
    try {
      const r = await h.web.request("webview/generate", request);
      const original = await generateText(DEMO, request.prompt, { maxTokens: request.maxTokens, providers: ["cpu"] });
      const shared = await generateText(DEMO, request.prompt, { maxTokens: request.maxTokens, ratio: 0.3, providers: ["cpu"] });
      assert.equal(r.original.text, original.text);
      assert.equal(r.shared.text, shared.text);
      assert.notEqual(original.text, shared.text, "sharing changes the continuation, so the sides are told apart");
      assert.equal(r.original.tokens, original.ids.length);
      assert.equal(r.sharedLabel, "shared at 30%");
      assert.ok(r.original.tokensPerSecond > 0 && r.shared.tokensPerSecond > 0);
      // the worker got the request's settings: the original without a ratio, the shared with the slider's ratio and the session's strategy
      assert.deepEqual(
        h.started.map((s) => [s.params.model, s.params.ratio, s.params.strategy, s.params.maxTokens]).sort(),
        [
          [DEMO, 0.3, "qk", 24],
          [DEMO, undefined, undefined, 24],
        ].sort(),
      );
      assert.equal(h.peak(), 2, "both sides run at the same time");
      for (const side of ["original", "shared"] as const) {
        const mine = h.events.filter((e) => e.side === side);
        assert.ok(mine.length > 0, `${side}: streamed`);
        mine.forEach((e, i) => {
          assert.ok(r[side].text.startsWith(e.text), `${side} event ${i} is the text so far`);
          if (i > 0) assert.ok(e.tokens >= mine[i - 1]!.tokens);
        });
      }
    } finally {
      await h.close();
    }
  },
);

test(
  "generate host: a shared checkpoint runs as itself; an empty prompt is refused; the webview's cancel stops both jobs",
  { skip: fs.existsSync(WORKER) ? false : "dist/worker.js is not built" },
  async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "headshare-genhost-"));
    const compact = path.join(tmp, "compact");
    const ck = await openCheckpoint(DEMO);
    try {
      const { plan } = await resolvePlan(ck, { ratio: 0.3, providers: ["cpu"] });
      await writeShared(ck, plan!, { format: "compact", outDir: compact });
    } finally {
      await ck.close();
    }
    const h = harness(() => ({ kind: "checkpoint", path: compact, label: "compact 30%" }));
    try {
      const r = await h.web.request("webview/generate", request);
      assert.equal(r.sharedLabel, "compact 30%");
      assert.equal(
        r.shared.text,
        (await generateText(DEMO, request.prompt, { maxTokens: request.maxTokens, ratio: 0.3, providers: ["cpu"] })).text,
        "the compact checkpoint writes what the plan writes",
      );
      assert.ok(h.started.some((s) => s.params.model === compact && s.params.ratio === undefined));

      await assert.rejects(
        h.web.request("webview/generate", { ...request, prompt: "   " }),
        (e: unknown) => e instanceof RpcError && /write a prompt first/.test(e.message),
      );

      // cancel once both sides have streamed something: both jobs are aborted and the request rejects as cancelled
      const before = h.started.length;
      h.events.length = 0;
      const ac = new AbortController();
      const off = h.web.on("webview/generated", () => {
        if (new Set(h.events.map((e) => e.side)).size === 2) ac.abort();
      });
      await assert.rejects(
        h.web.request("webview/generate", { ...request, maxTokens: 2048 }, { signal: ac.signal }),
        (e: unknown) => e instanceof RpcError && e.code === "cancelled",
      );
      off();
      const jobs = h.started.slice(before);
      assert.equal(jobs.length, 2);
      assert.ok(
        jobs.every((j) => j.signal.aborted),
        "both worker jobs were cancelled",
      );
    } finally {
      await h.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  },
);
