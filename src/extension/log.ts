/** The extension's one LogOutputChannel (levels, timestamps by VS Code); errors reveal it on request. */
import * as vscode from "vscode";

export class Log implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;

  constructor() {
    this.channel = vscode.window.createOutputChannel("Headshare", { log: true });
  }
  trace(m: string): void { this.channel.trace(m); }
  debug(m: string): void { this.channel.debug(m); }
  info(m: string): void { this.channel.info(m); }
  warn(m: string): void { this.channel.warn(m); }
  error(m: string | Error, reveal = false): void {
    this.channel.error(m instanceof Error ? `${m.message}${m.stack ? `\n${m.stack}` : ""}` : m);
    if (reveal) this.channel.show(true);
  }
  show(): void { this.channel.show(true); }
  dispose(): void { this.channel.dispose(); }
}
