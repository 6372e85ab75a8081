/**
 * Extension entry (dist/extension.js): registers commands, the inspect custom editor and the panel
 * serializers; everything heavy runs in the compute worker, started lazily on the first job and
 * stopped on deactivate. Activation failures are shown to the user and rethrown (VS Code would
 * otherwise fail silently).
 */
import * as vscode from "vscode";
import { compressCommand } from "./commands/compress";
import { exportPostShareJobCommand, importPostShareJobCommand } from "./commands/postshareJob";
import { exportOnnxCommand } from "./commands/exportOnnx";
import { inspectCommand } from "./commands/inspect";
import { quickEvalCommand } from "./commands/quickEval";
import { selectDeviceCommand } from "./commands/selectDevice";
import { showMapCommand } from "./commands/showMap";
import { sweepCommand } from "./commands/sweep";
import { isCancel, messageOf } from "./errors";
import { trackModelFolders } from "./modelFolders";
import { INSPECT_EDITOR_VIEW_TYPE, InspectEditorProvider } from "./panels/inspectEditor";
import { MAP_VIEW_TYPE, MapPanel } from "./panels/mapPanel";
import { REPORT_VIEW_TYPE, ReportPanel } from "./panels/reportPanel";
import { Session } from "./session";

let session: Session | undefined;
let lastMessage: string | undefined;

/** What a cancel of each command leaves behind, in the confirmation. */
const CANCELLED: Record<string, string> = {
  "headshare.compress": "Compress cancelled; no output folder was left behind.",
  "headshare.quickEval": "Quick Eval cancelled; nothing was written.",
  "headshare.sweep": "Sweep cancelled.",
  "headshare.showSharingMap": "matching heads cancelled.",
};

/** What `activate` returns: a small API for automation and the extension tests. */
export interface HeadshareApi {
  /** Ids and labels of running jobs. */
  runningJobs(): { id: number; label: string; phase: string }[];
  /** Cancels running jobs (all, or one id). */
  cancel(id?: number): number;
  /** The open sharing map of a model, if any. */
  mapPanel(model: string): MapPanel | undefined;
  /** Runs the open map's quick eval at `ratio` (as its button does). */
  mapQuickEval(model: string, ratio: number): Promise<unknown>;
  /** The report shown last. */
  latestReport(): ReportPanel["report"] | undefined;
  /** The report shown last, once the evaluation it started by itself has finished. */
  settledReport(): Promise<ReportPanel["report"] | undefined>;
  /** The report panel's tab title. */
  latestReportTitle(): string | undefined;
  /** The status bar item's text now. */
  statusText(): string;
  /** The last error or cancel confirmation a command showed (tests read what the user was told). */
  lastMessage(): string | undefined;
  /** The worker process id while one runs. */
  workerPid(): number | undefined;
  /** Whether model files linking out of their folder are followed now (headshare.followSymlinks, trusted workspaces only). */
  followSymlinks(): boolean;
}

export function activate(context: vscode.ExtensionContext): HeadshareApi {
  try {
    const s = new Session(context);
    session = s;
    const command = (id: string, fn: (...args: never[]) => Promise<unknown>) =>
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
        } catch (e) {
          if (isCancel(e)) {
            s.log.info(`${id}: cancelled`);
            // A cancel says so (the notification that showed the job is gone by now).
            lastMessage = `Headshare: ${CANCELLED[id] ?? "cancelled."}`;
            void vscode.window.showInformationMessage(lastMessage);
            return undefined;
          }
          if ((e as { code?: unknown }).code === "untrusted") {
            s.log.warn(`${id}: ${messageOf(e)}`);
            return undefined;
          } // requireTrust already told the user
          s.log.error(`${id}: ${messageOf(e)}`);
          lastMessage = `Headshare: ${messageOf(e)}`;
          void vscode.window.showErrorMessage(lastMessage, "Open Logs").then((a) => a && s.log.show());
          return undefined;
        }
      });
    context.subscriptions.push(
      command("headshare.compress", (uri: vscode.Uri | undefined, opts?: Parameters<typeof compressCommand>[2]) => compressCommand(s, uri, opts)),
      command("headshare.showSharingMap", (uri: vscode.Uri | undefined, opts?: Parameters<typeof showMapCommand>[2]) => showMapCommand(s, uri, opts)),
      command("headshare.quickEval", (uri: vscode.Uri | undefined, opts?: Parameters<typeof quickEvalCommand>[2]) => quickEvalCommand(s, uri, opts)),
      command("headshare.sweep", (uri: vscode.Uri | undefined, opts?: Parameters<typeof sweepCommand>[2]) => sweepCommand(s, uri, opts)),
      command("headshare.inspect", (uri: vscode.Uri | undefined) => inspectCommand(s, uri)),
      command("headshare.exportPostShareJob", (uri: vscode.Uri | undefined, opts?: Parameters<typeof exportPostShareJobCommand>[2]) =>
        exportPostShareJobCommand(s, uri, opts),
      ),
      command("headshare.importPostShareJob", (uri: vscode.Uri | undefined, opts?: Parameters<typeof importPostShareJobCommand>[2]) =>
        importPostShareJobCommand(s, uri, opts),
      ),
      command("headshare.exportOnnx", (uri: vscode.Uri | undefined, opts?: Parameters<typeof exportOnnxCommand>[2]) => exportOnnxCommand(s, uri, opts)),
      command("headshare.selectComputeDevice", (opts?: Parameters<typeof selectDeviceCommand>[1]) => selectDeviceCommand(s, opts)),
      vscode.commands.registerCommand("headshare.showLogs", () => s.log.show()),
      vscode.commands.registerCommand("headshare.cancel", () => {
        const names = s.jobs.list.map((j) => j.label);
        const n = s.jobs.cancel();
        void vscode.window.showInformationMessage(n ? `Headshare: cancelling ${names.join(", ")}…` : "Headshare: no job is running.");
        return n;
      }),
      vscode.commands.registerCommand("headshare.restartWorker", () => s.restartWorker("restarted by the user")),
      vscode.window.registerCustomEditorProvider(INSPECT_EDITOR_VIEW_TYPE, new InspectEditorProvider(s), { supportsMultipleEditorsPerDocument: true }),
      vscode.window.registerWebviewPanelSerializer(MAP_VIEW_TYPE, MapPanel.serializer(s)),
      vscode.window.registerWebviewPanelSerializer(REPORT_VIEW_TYPE, ReportPanel.serializer(s)),
      trackModelFolders(s.log),
    );
    s.log.info(
      `Headshare activated (VS Code ${vscode.version}, node ${process.version}, ${vscode.workspace.isTrusted ? "trusted" : "Restricted Mode: inspection only"})`,
    );
    return {
      runningJobs: () => s.jobs.list.map((j) => ({ id: j.id, label: j.label, phase: j.phase })),
      cancel: (id) => s.jobs.cancel(id),
      mapPanel: (model) => MapPanel.find(model),
      mapQuickEval: async (model, ratio) => {
        const p = MapPanel.find(model);
        if (!p) throw new Error(`no sharing map is open for ${model}`);
        return p.runQuickEval(ratio);
      },
      latestReport: () => ReportPanel.latest?.report,
      settledReport: async () => {
        const p = ReportPanel.latest;
        await p?.settled();
        return p?.report;
      },
      latestReportTitle: () => ReportPanel.latest?.panel.title,
      statusText: () => s.status.text,
      lastMessage: () => lastMessage,
      workerPid: () => s.worker.pid,
      followSymlinks: () => s.followSymlinks,
    };
  } catch (e) {
    void vscode.window.showErrorMessage(`Cannot activate the Headshare extension: ${messageOf(e)}`);
    throw e;
  }
}

export async function deactivate(): Promise<void> {
  const s = session;
  session = undefined;
  await s?.dispose();
}
