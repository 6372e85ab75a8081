/** The extension's one LogOutputChannel (levels, timestamps by VS Code); errors reveal it on request. */
import * as vscode from "vscode";

/** Set by the extension tests (scripts/test-vscode.mjs): also echo to the console, which the test runner prints. */
const echo = !!process.env.HEADSHARE_LOG_CONSOLE;

export class Log implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;

  constructor() {
    this.channel = vscode.window.createOutputChannel("Headshare", { log: true });
  }
  trace(m: string): void {
    this.channel.trace(m);
  }
  debug(m: string): void {
    this.channel.debug(m);
  }
  info(m: string): void {
    this.channel.info(m);
    if (echo) console.log(`[headshare] ${m}`);
  }
  warn(m: string): void {
    this.channel.warn(m);
    if (echo) console.log(`[headshare] WARN ${m}`);
  }
  error(m: string | Error, reveal = false): void {
    this.channel.error(m instanceof Error ? `${m.message}${m.stack ? `\n${m.stack}` : ""}` : m);
    if (echo) console.log(`[headshare] ERROR ${m instanceof Error ? m.message : m}`);
    if (reveal) this.channel.show(true);
  }
  show(): void {
    this.channel.show(true);
  }
  dispose(): void {
    this.channel.dispose();
  }
}
