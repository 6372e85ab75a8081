/**
 * The host end of a webview's "Generate" section: the original and the shared model continue the
 * same prompt at the same time (two `headshare/generate` worker jobs), their text streamed to the
 * webview as it comes; the webview's cancel (or the status bar's) stops both.
 */
import path from "node:path";
import type { GenerateRequest, GenerateResponse } from "../../protocol/webviewGenerate";
import type { JobParams } from "../../protocol/worker";
import { ExtensionError } from "../errors";
import type { Session } from "../session";
import type { WebviewConnection } from "./webview";

/** What the panel's "shared" model is: the original shared at the request's ratio, or a shared checkpoint. */
export type SharedSource = { readonly kind: "ratio" } | { readonly kind: "checkpoint"; readonly path: string; readonly label: string };

export function handleGenerate(session: Session, conn: WebviewConnection, model: string, shared: () => SharedSource): void {
  conn.rpc.handle("webview/generate", async (p, ctx) => {
    const src = shared();
    const base = { prompt: p.prompt, maxTokens: p.maxTokens, temperature: p.temperature, topP: p.temperature > 0 ? p.topP : 1, seed: p.seed };
    const sharedParams: JobParams<"headshare/generate"> =
      src.kind === "ratio" ? { ...base, model, ratio: p.ratio, strategy: session.settings.strategy } : { ...base, model: src.path };
    return generateBoth(
      session,
      conn,
      { ...base, model },
      sharedParams,
      p,
      ctx.signal,
      src.kind === "ratio" ? `shared at ${Math.round(p.ratio * 100)}%` : src.label,
    );
  });
}

async function generateBoth(
  session: Session,
  conn: WebviewConnection,
  originalParams: JobParams<"headshare/generate">,
  sharedParams: JobParams<"headshare/generate">,
  p: GenerateRequest,
  signal: AbortSignal,
  sharedLabel: string,
): Promise<GenerateResponse> {
  if (!p.prompt.trim()) throw new ExtensionError("bad-input", "write a prompt first");
  const one = (side: "original" | "shared", params: JobParams<"headshare/generate">) =>
    session.jobs.run(`generate ${path.basename(params.model)} (${side})`, async (job) => {
      const cancel = (): void => job.controller.abort();
      signal.addEventListener("abort", cancel, { once: true });
      try {
        const r = await session.request(job, "headshare/generate", params, (q) => {
          if (q.message !== undefined) conn.rpc.notify("webview/generated", { side, text: q.message, tokens: Math.round(q.done) });
        });
        return { text: r.text, tokens: r.ids.length, tokensPerSecond: r.tokensPerSecond, stop: r.stop };
      } finally {
        signal.removeEventListener("abort", cancel);
      }
    });
  const [original, shared] = await Promise.all([one("original", originalParams), one("shared", sharedParams)]);
  session.log.info(
    `generate ${originalParams.model}: original ${original.tokensPerSecond.toFixed(1)} tokens/s, ${sharedLabel} ${shared.tokensPerSecond.toFixed(1)} tokens/s`,
  );
  return { original, shared, sharedLabel };
}
