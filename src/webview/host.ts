/**
 * The webview end of the extension ⇄ webview boundary (src/protocol/webview.ts): typed posting,
 * validation of every received message, and the view-state helpers (only small view state is kept).
 */
import { describeIssues, fromWebviewSchema, toWebviewSchema, viewStateSchema } from "../protocol/webview";
import type { FromWebview, ToWebview, ViewState } from "../protocol/webview";

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

export class Host {
  private readonly api: VsCodeApi;
  private state: ViewState | undefined;

  constructor() {
    this.api = acquireVsCodeApi();
    const parsed = viewStateSchema.safeParse(this.api.getState());
    this.state = parsed.success ? parsed.data : undefined;
  }

  /** Posts a message to the extension; checked against the schema first so a bug shows here, not there. */
  post(message: FromWebview): void {
    const r = fromWebviewSchema.safeParse(message);
    if (!r.success) { console.error(`headshare webview: refusing to post an invalid message: ${describeIssues(r.error)}`); return; }
    this.api.postMessage(r.data);
  }

  /** Listens for host messages; invalid ones are logged and dropped. */
  listen(handler: (m: ToWebview) => void): void {
    window.addEventListener("message", (ev: MessageEvent) => {
      const r = toWebviewSchema.safeParse(ev.data);
      if (!r.success) { console.warn(`headshare webview: dropped an invalid message: ${describeIssues(r.error)}`); return; }
      handler(r.data);
    });
  }

  /** The view state restored after a reload (undefined on first open). */
  get viewState(): ViewState | undefined { return this.state; }

  /** Merges into the persisted view state. */
  saveViewState(patch: Partial<ViewState> & Pick<ViewState, "view">): void {
    const next = { ...(this.state ?? {}), ...patch };
    const r = viewStateSchema.safeParse(next);
    if (!r.success) return;
    this.state = r.data;
    this.api.setState(r.data);
  }
}
