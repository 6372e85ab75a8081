/**
 * The webview page the extension renders (src/extension/panels/webview.ts → src/extension/html.ts),
 * checked as a browser would see it: a strict CSP (default-src 'none'; scripts only with this
 * render's nonce; no remote origins; no eval, no unsafe-*), no inline script or handler without
 * the nonce, every loaded resource inside the extension's dist/ or media/ (and present there),
 * localResourceRoots limited to those two folders, a fresh nonce per render, and titles/URIs that
 * cannot break out of their attributes. `vscode` is replaced by a small stub (Uri + a fake
 * webview) so this runs under plain node.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import Module from "node:module";
import path from "node:path";
import test from "node:test";

const ROOT = path.resolve(__dirname, "../..");
const CSP_SOURCE = "https://file+.vscode-resource.vscode-cdn.net";

/** The parts of vscode.Uri the panel code uses. */
class StubUri {
  constructor(
    readonly scheme: string,
    readonly path: string,
  ) {}
  static file(p: string): StubUri {
    return new StubUri("file", p);
  }
  static joinPath(base: StubUri, ...parts: string[]): StubUri {
    return new StubUri(base.scheme, path.posix.join(base.path, ...parts));
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return `${this.scheme}://${this.path}`;
  }
}
const vscodeStub = { Uri: StubUri, window: {}, workspace: {}, ViewColumn: { Active: -1 } };

function installVscodeStub(): void {
  const M = Module as unknown as { _load: (req: string, parent: unknown, isMain: boolean) => unknown };
  const orig = M._load;
  M._load = function (req: string, parent: unknown, isMain: boolean) {
    return req === "vscode" ? vscodeStub : orig.call(this, req, parent, isMain);
  };
}

interface FakeWebview {
  cspSource: string;
  options?: { localResourceRoots?: StubUri[]; enableScripts?: boolean };
  html: string;
  asWebviewUri(u: StubUri): { toString(): string };
}
function fakeWebview(): FakeWebview {
  return { cspSource: CSP_SOURCE, html: "", asWebviewUri: (u) => ({ toString: () => `${CSP_SOURCE}${u.path}` }) };
}

/** Attribute text of every real tag (escaped text like `&#60;img onerror=…` is not a tag). */
function tagAttrs(html: string): string[] {
  // Quoted values are blanked: text inside a value (quotes in it are escaped) is not an attribute.
  return [...html.matchAll(/<([a-zA-Z][^\s/>]*)([^>]*)>/g)].map((m) => m[2]!.replace(/"[^"]*"/g, '""'));
}

function csp(html: string): Map<string, string[]> {
  const m = /<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]*)"/i.exec(html);
  assert.ok(m, "the page has a CSP meta tag");
  const text = m[1]!.replace(/&#39;/g, "'").replace(/&#34;/g, '"').replace(/&amp;/g, "&");
  const out = new Map<string, string[]>();
  for (const d of text
    .split(";")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, ...vals] = d.split(/\s+/);
    assert.ok(!out.has(name!), `directive ${name} appears twice`);
    out.set(name!, vals);
  }
  return out;
}

async function render(title = "Sharing map: tiny"): Promise<{ html: string; webview: FakeWebview; ext: StubUri }> {
  installVscodeStub();
  const { setupWebview } = await import("../src/extension/panels/webview");
  const ext = StubUri.file(ROOT);
  const webview = fakeWebview();
  setupWebview(webview as never, ext as never, title);
  return { html: webview.html, webview, ext };
}

test("webview CSP: strict policy with a per-render nonce, no remote origins, no eval or unsafe-*", async () => {
  const { html } = await render();
  const p = csp(html);
  assert.deepEqual(p.get("default-src"), ["'none'"]);
  const scriptSrc = p.get("script-src") ?? [];
  assert.equal(scriptSrc.length, 1, `script-src is only the nonce: ${scriptSrc.join(" ")}`);
  const nonce = /^'nonce-([A-Za-z0-9+/=]+)'$/.exec(scriptSrc[0]!)?.[1];
  assert.ok(nonce && Buffer.from(nonce, "base64").length >= 16, "a nonce of at least 128 bits");
  for (const [name, vals] of p) {
    for (const v of vals) {
      assert.ok(!/unsafe-|strict-dynamic|wasm-eval/i.test(v), `${name} allows ${v}`);
      assert.ok(!/^(\*|https?:|http:\/\/|wss?:|ws:)$/i.test(v) && v !== "*", `${name} allows any origin: ${v}`);
      if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) assert.equal(v, CSP_SOURCE, `${name} names a remote origin ${v}`);
      if (/^(data:|blob:)$/.test(v)) assert.equal(name, "img-src", `${name} allows ${v} (only images may be data:/blob:)`);
    }
  }
  assert.ok(!p.has("connect-src") && !p.has("frame-src") && !p.has("worker-src") && !p.has("object-src"), "nothing beyond scripts, styles, fonts and images");
  // Every script carries the nonce; none is inline; no inline event handlers or javascript: URLs.
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)];
  assert.ok(scripts.length >= 1);
  for (const [, attrs, body] of scripts) {
    assert.match(attrs!, new RegExp(`nonce="${nonce!.replace(/[+/=]/g, (c) => `\\${c}`)}"`), "script without this render's nonce");
    assert.equal(body!.trim(), "", "inline script body");
  }
  assert.ok(!tagAttrs(html).some((a) => /\son[a-z]+\s*=/i.test(a)), "inline event handler attribute");
  assert.ok(!/javascript:/i.test(html), "javascript: URL");
  assert.ok(!/<(iframe|object|embed|base)\b/i.test(html), "frames, plugins or <base>");
  // A fresh nonce for every render.
  const again = csp((await render()).html).get("script-src")![0];
  assert.notEqual(again, scriptSrc[0], "the nonce is reused across renders");
});

test("webview CSP: every resource the page loads is inside dist/ or media/ and exists; localResourceRoots are exactly those", async () => {
  const { html, webview, ext } = await render();
  const roots = (webview.options?.localResourceRoots ?? []).map((u) => u.path).sort();
  assert.deepEqual(roots, [path.posix.join(ext.path, "dist"), path.posix.join(ext.path, "media")]);
  assert.equal(webview.options?.enableScripts, true);
  const urls = [...html.matchAll(/\s(?:src|href)="([^"]*)"/gi)].map((m) => m[1]!.replace(/&#38;/g, "&"));
  assert.ok(urls.length >= 2, "the page loads its script and stylesheet");
  for (const u of urls) {
    assert.ok(u.startsWith(CSP_SOURCE), `${u} is not served through asWebviewUri`);
    const file = u.slice(CSP_SOURCE.length);
    const rel = path.posix.relative(ext.path, file);
    assert.ok(/^(dist|media)\/[^/]/.test(rel) && !rel.includes(".."), `${u} loads ${rel}, outside dist/ and media/`);
    if (rel.startsWith("media/")) assert.ok(fs.existsSync(path.join(ROOT, rel)), `${rel} is missing from the repository`);
  }
  assert.ok(
    urls.some((u) => u.endsWith("/dist/webview.js")),
    "the webview bundle is loaded from dist/",
  );
});

test("webview CSP: a hostile title or resource URI cannot inject markup", async () => {
  const { renderPage } = await import("../src/extension/html");
  const evil = `"><script>alert(1)</script><img src=x onerror=alert(2)>`;
  const html = renderPage({
    cspSource: CSP_SOURCE,
    scriptUri: `${CSP_SOURCE}/dist/webview.js${evil}`,
    styleUri: `${CSP_SOURCE}/media/webview.css${evil}`,
    title: `</title>${evil}`,
    nonce: "AAAAAAAAAAAAAAAAAAAAAA==",
  });
  assert.equal([...html.matchAll(/<script\b/gi)].length, 1, "exactly one script element");
  assert.ok(!/<img\b/i.test(html) && !tagAttrs(html).some((a) => /\son[a-z]+\s*=/i.test(a)), "no injected element or handler");
  assert.equal([...html.matchAll(/<\/title>/gi)].length, 1);
});
