/**
 * The webview end of the extension ⇄ webview boundary (src/protocol/webview.ts), on the project's
 * one RPC class: requests to the host (ready, quickEval, export, compress) return promises and can be
 * cancelled; events from the host are validated before any listener sees them. Also the view-state
 * helpers (only small view state is kept: the data is re-requested after a reload).
 */
import { webviewSide, hostSide, viewStateSchema } from "../protocol/webview";
import type { ExportParams, HostSide, ViewState, WebviewSide } from "../protocol/webview";
import { Rpc } from "../protocol/rpc";
import { h } from "./dom";

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

export class Host {
  readonly rpc: Rpc<WebviewSide, HostSide>;
  private readonly api: VsCodeApi;
  private state: ViewState | undefined;

  constructor() {
    this.api = acquireVsCodeApi();
    const parsed = viewStateSchema.safeParse(this.api.getState());
    this.state = parsed.success ? parsed.data : undefined;
    this.rpc = new Rpc(
      webviewSide,
      hostSide,
      { send: (m) => this.api.postMessage(m) },
      {
        name: "webview",
        log: (level, message) => (level === "error" ? console.error : level === "warn" ? console.warn : console.debug)(`headshare webview: ${message}`),
      },
    );
    window.addEventListener("message", (ev: MessageEvent) => this.rpc.receive(ev.data));
  }

  /** Asks the host to save an export and shows where it went. */
  async exportFile(p: ExportParams): Promise<void> {
    try {
      const r = await this.rpc.request("webview/export", p);
      if (r.path) note(`Saved ${r.path}`);
    } catch (e) {
      note(`Export failed: ${e instanceof Error ? e.message : String(e)}`, true);
    }
  }

  /** The view state restored after a reload (undefined on first open). */
  get viewState(): ViewState | undefined {
    return this.state;
  }

  /** Merges into the persisted view state. */
  saveViewState(patch: Partial<ViewState> & Pick<ViewState, "view">): void {
    const next = { ...(this.state ?? {}), ...patch };
    const r = viewStateSchema.safeParse(next);
    if (!r.success) return;
    this.state = r.data;
    this.api.setState(r.data);
  }
}

function note(text: string, error = false): void {
  document.getElementById("export-note")?.remove();
  const root = document.getElementById("root") ?? document.body;
  root.prepend(h("p", { class: error ? "error" : "hint", role: error ? "alert" : "status", id: "export-note" }, text));
}
