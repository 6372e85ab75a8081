/**
 * The ONLY module that knows which web-component library draws the controls. Everything else calls
 * these helpers, so swapping @vscode/webview-ui-toolkit (archived upstream, Jan 2025) for
 * @vscode-elements/elements means rewriting this file alone: `vscode-button` → `vscode-button`
 * (same tag) and `vscode-text-field` → `vscode-textfield`; tags and the spinner are plain
 * elements (see below).
 */
import { provideVSCodeDesignSystem, vsCodeButton, vsCodeTextField } from "@vscode/webview-ui-toolkit";
import { h } from "./dom";

let registered = false;

/** Defines the custom elements once (idempotent). */
export function registerToolkit(): void {
  if (registered) return;
  registered = true;
  provideVSCodeDesignSystem().register(vsCodeButton(), vsCodeTextField());
}

export interface ButtonOptions {
  readonly id?: string;
  readonly secondary?: boolean;
  readonly icon?: boolean;
  readonly ariaLabel?: string;
  readonly title?: string;
  readonly onClick: () => void;
}

/** A themed button. Click and Enter/Space both activate it (the component is a real focusable button). */
export function button(label: string, opts: ButtonOptions): HTMLElement {
  const b = h("vscode-button", { id: opts.id, title: opts.title, "aria-label": opts.ariaLabel ?? label }, label);
  if (opts.secondary) b.setAttribute("appearance", "secondary");
  b.addEventListener("click", () => {
    if (!b.hasAttribute("disabled")) opts.onClick();
  });
  return b;
}

export function setDisabled(el: HTMLElement, disabled: boolean): void {
  if (disabled) el.setAttribute("disabled", "");
  else el.removeAttribute("disabled");
}

/** A themed single-line text input; `onInput` gets the current value. */
export function textField(opts: { id?: string; placeholder: string; ariaLabel: string; value?: string; onInput: (v: string) => void }): HTMLElement {
  const f = h("vscode-text-field", { id: opts.id, placeholder: opts.placeholder, "aria-label": opts.ariaLabel });
  if (opts.value) (f as HTMLInputElement).value = opts.value;
  f.addEventListener("input", () => opts.onInput((f as HTMLInputElement).value ?? ""));
  return f;
}

// The toolkit's vscode-tag and vscode-progress-ring render `style="…"` attributes from their templates,
// which the strict CSP (no 'unsafe-inline' styles) blocks; these two are plain elements styled in
// media/webview.css with the same theme variables (badge colours, progress bar colour).

/** An indeterminate spinner. */
export function spinner(ariaLabel: string): HTMLElement {
  return h("span", { class: "spinner", role: "progressbar", "aria-label": ariaLabel });
}

/** A small label chip. */
export function tag(text: string): HTMLElement {
  return h("span", { class: "tag" }, text);
}
