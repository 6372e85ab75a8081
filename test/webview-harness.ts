/**
 * Standalone webview harness for the webview tests: serves the production page (src/extension/html.ts)
 * with dist/webview.js and media/webview.css over a local HTTP server, with a stub `acquireVsCodeApi`
 * that records posted messages (Rpc envelopes) and state, and answers the `webview/ready` request with
 * a given `init` and `webview/export` with a path. Runs in headless
 * Chromium through playwright-core. VS Code's theme variables are set for light, dark or high contrast.
 */
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { renderPage } from "../src/extension/html";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const repoRoot = path.resolve(__dirname, "../.."); // out/test/x.js → repo

/** Skip reason when the harness cannot run here. */
export function webviewSkip(): false | string {
  if (!fs.existsSync(CHROMIUM)) return `Chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)`;
  if (!fs.existsSync(path.join(repoRoot, "dist", "webview.js"))) return "dist/webview.js is not built (node scripts/build.mjs)";
  return false;
}

const THEMES: Record<string, { cls: string; vars: Record<string, string> }> = {
  dark: {
    cls: "vscode-dark",
    vars: {
      "--vscode-foreground": "#cccccc",
      "--vscode-editor-background": "#1f1f1f",
      "--vscode-descriptionForeground": "#9d9d9d",
      "--vscode-panel-border": "#2b2b2b",
      "--vscode-focusBorder": "#0078d4",
      "--vscode-charts-red": "#f14c4c",
      "--vscode-charts-orange": "#d18616",
      "--vscode-editorWidget-border": "#454545",
      "--vscode-editorWidget-background": "#202020",
      "--vscode-font-family": "system-ui, sans-serif",
      "--vscode-font-size": "13px",
      "--vscode-editor-font-size": "12px",
      "--vscode-button-background": "#0078d4",
      "--vscode-errorForeground": "#f85149",
    },
  },
  light: {
    cls: "vscode-light",
    vars: {
      "--vscode-foreground": "#3b3b3b",
      "--vscode-editor-background": "#ffffff",
      "--vscode-descriptionForeground": "#717171",
      "--vscode-panel-border": "#e5e5e5",
      "--vscode-focusBorder": "#005fb8",
      "--vscode-charts-red": "#e51400",
      "--vscode-charts-orange": "#d18616",
      "--vscode-editorWidget-border": "#c8c8c8",
      "--vscode-editorWidget-background": "#f8f8f8",
      "--vscode-font-family": "system-ui, sans-serif",
      "--vscode-font-size": "13px",
      "--vscode-editor-font-size": "12px",
      "--vscode-button-background": "#005fb8",
      "--vscode-errorForeground": "#f85149",
    },
  },
  "high-contrast": {
    cls: "vscode-high-contrast",
    vars: {
      "--vscode-foreground": "#ffffff",
      "--vscode-editor-background": "#000000",
      "--vscode-descriptionForeground": "#ffffff",
      "--vscode-contrastBorder": "#6fc3df",
      "--vscode-focusBorder": "#f38518",
      "--vscode-charts-red": "#f14c4c",
      "--vscode-charts-orange": "#f38518",
      "--vscode-editorWidget-border": "#6fc3df",
      "--vscode-font-family": "system-ui, sans-serif",
      "--vscode-font-size": "13px",
      "--vscode-editor-font-size": "12px",
    },
  },
};

export interface Harness {
  readonly url: (init: unknown, opts?: { theme?: keyof typeof THEMES; state?: unknown }) => string;
  close(): Promise<void>;
}

/** Starts the local server. Page query: ?case=<id>; `init`/`state` are registered per case id. */
export async function startHarness(): Promise<Harness> {
  const cases = new Map<string, { init: unknown; theme: string; state: unknown }>();
  let n = 0;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    const file =
      u.pathname === "/dist/webview.js"
        ? path.join(repoRoot, "dist/webview.js")
        : u.pathname === "/media/webview.css"
          ? path.join(repoRoot, "media/webview.css")
          : null;
    if (file) {
      res.writeHead(200, { "content-type": file.endsWith(".js") ? "text/javascript" : "text/css" });
      res.end(fs.readFileSync(file));
      return;
    }
    const c = cases.get(u.searchParams.get("case") ?? "");
    if (u.pathname === "/favicon.ico") {
      res.writeHead(204);
      res.end();
      return;
    }
    if (u.pathname !== "/" || !c) {
      res.writeHead(404);
      res.end();
      return;
    }
    const origin = `http://${req.headers.host}`;
    const nonce = "dGVzdG5vbmNlMTIzNDU2Nw==";
    let page = renderPage({ cspSource: origin, scriptUri: `${origin}/dist/webview.js`, styleUri: `${origin}/media/webview.css`, title: "test", nonce });
    const theme = THEMES[c.theme]!;
    // The stub: what VS Code's webview host provides. Data goes in as JSON text (never as script source).
    const stub = `<script type="application/json" id="case-data">${JSON.stringify({ init: c.init, state: c.state }).replace(/</g, "\\u003c")}</script>
<script nonce="${nonce}">
(() => {
  const data = JSON.parse(document.getElementById("case-data").textContent);
  window.__posted = []; window.__state = data.state; window.__states = [];
  window.acquireVsCodeApi = () => ({
    // Answers like the extension host would: ready → the init data; export → a saved path. Other requests are left to the test.
    postMessage(m) {
      window.__posted.push(JSON.parse(JSON.stringify(m)));
      const reply = (result) => setTimeout(() => window.postMessage({ kind: "result", id: 900000 + m.id, inReplyTo: m.id, result }, "*"), 0);
      if (m && m.kind === "request" && m.method === "webview/ready") reply(data.init);
      if (m && m.kind === "request" && m.method === "webview/export") reply({ path: "/saved/" + m.params.suggestedName });
    },
    getState() { return window.__state; },
    setState(s) { window.__state = s; window.__states.push(s); },
  });
  document.documentElement.style.cssText = ${JSON.stringify(
    Object.entries(theme.vars)
      .map(([k, v]) => `${k}: ${v}`)
      .join("; "),
  )};
  document.addEventListener("DOMContentLoaded", () => document.body.classList.add(${JSON.stringify(theme.cls)}));
})();
</script>`;
    page = page.replace("</head>", `${stub}\n</head>`);
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(page);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (init, opts = {}) => {
      const id = String(++n);
      cases.set(id, { init, theme: opts.theme ?? "dark", state: opts.state });
      return `http://127.0.0.1:${port}/?case=${id}`;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A seeded PRNG (mulberry32, src/core/model/rng.ts) for fixtures. */
import { mulberry32 as rng } from "../src/core/model/rng";
export { rng };
