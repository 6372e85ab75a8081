/**
 * The webview page (pure: no vscode import, so the standalone webview tests render the same HTML).
 * CSP: nothing by default; scripts only with this render's nonce; styles from the webview's own resource
 * origin or with the nonce (FAST's focus-visible probe); fonts and images only from that origin (plus data:/blob: images for PNG export). No data is ever
 * interpolated into the page: it arrives by postMessage after the ready→init handshake.
 */
import { randomBytes } from "node:crypto";

export interface PageOptions {
  /** `webview.cspSource`. */
  readonly cspSource: string;
  /** asWebviewUri of dist/webview.js and media/webview.css. */
  readonly scriptUri: string;
  readonly styleUri: string;
  readonly title: string;
  /** Fresh per render; defaults to 16 random bytes in base64. */
  readonly nonce?: string;
}

export function makeNonce(): string {
  return randomBytes(16).toString("base64");
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function renderPage(o: PageOptions): string {
  const nonce = o.nonce ?? makeNonce();
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${o.cspSource} 'nonce-${nonce}'`,
    `font-src ${o.cspSource}`,
    `img-src ${o.cspSource} data: blob:`,
  ].join("; ");
  return /* html */ `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<!-- Only this render's nonce may run scripts; styles/fonts/images only from the extension's dist/ and media/. -->
<meta http-equiv="Content-Security-Policy" content="${esc(csp)}">
<!-- FAST (the toolkit) reads this nonce for the one <style> probe it inserts. -->
<meta property="csp-nonce" content="${esc(nonce)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${esc(o.styleUri)}">
<title>${esc(o.title)}</title>
</head>
<body>
<main id="root" aria-busy="true"><p class="hint">Loading…</p></main>
<script nonce="${esc(nonce)}" src="${esc(o.scriptUri)}"></script>
</body>
</html>
`;
}
