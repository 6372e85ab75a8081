/** Headshare: Sweep Ratios — one match table, then quality at each ratio (the quality/size curve) as a report naming model, text and protocol. */
import * as vscode from "vscode";
import type { Report } from "../../protocol/webview";
import { maxRatioOf, openCheckpoint } from "../checkInput";
import { ExtensionError } from "../errors";
import { parseRatios } from "../outputPath";
import { resultTitle, textParams } from "../evalRun";
import { commandEvalText, textRef } from "../evalText";
import { withJobNotification } from "../runningJobs";
import { emptyReport, describeProtocol, modelRef, sweepRows } from "../displayShapes";
import { pickModel } from "../modelPick";
import { MapPanel } from "../panels/mapPanel";
import { ReportPanel } from "../panels/reportPanel";
import type { Session } from "../session";
import { requireTrust } from "../trust";

export async function sweepCommand(
  session: Session,
  uri: vscode.Uri | undefined,
  o: { ratios?: number[]; text?: string; separator?: string | null; noReport?: boolean } = {},
): Promise<Report | undefined> {
  await requireTrust("Sweep Ratios");
  const model = await pickModel(uri, MapPanel.active?.model, "Sweep which checkpoint?");
  if (!model) return undefined;
  const facts = await openCheckpoint(session, model, { what: "Sweep", tokenizer: true });
  const max = maxRatioOf(facts.layers!);
  const s = session.settings;
  const check = (xs: number[]) => {
    const bad = xs.find((x) => x > max + 1e-9);
    if (bad !== undefined) throw new Error(`ratio ${bad} is above this model's maximum ${max} ((L−1)/L with L = ${facts.layers})`);
    return xs;
  };
  let ratios = o.ratios ? check([...new Set(o.ratios)].sort((a, b) => a - b)) : undefined;
  if (!ratios) {
    const t = await vscode.window.showInputBox({
      title: `Sweep ${modelRef(model).name}: ratios`,
      prompt: `Fractions from 0 to ${max} for this model`,
      value: [0, 0.1, 0.2, 0.3, 0.4, 0.5].filter((x) => x <= max).join(", "),
      validateInput: (v) => {
        try {
          check(parseRatios(v));
          return undefined;
        } catch (e) {
          return (e as Error).message;
        }
      },
    });
    if (t === undefined) return undefined;
    try {
      ratios = check(parseRatios(t));
    } catch (e) {
      throw new ExtensionError("bad-input", (e as Error).message);
    }
  }
  const text = await commandEvalText(session, model, o);
  if (!text) return undefined;
  const name = modelRef(model).name;
  try {
    const r = await withJobNotification(session.jobs, resultTitle(`Headshare: sweeping ${ratios.length} ratios`, model, null, text), `sweep ${name}`, (job) =>
      session.request(job, "headshare/sweep", {
        model,
        ratios: ratios!,
        text: text.file,
        strategy: s.strategy,
        granularity: s.granularity,
        ...textParams(session, text),
      }),
    );
    const report: Report = {
      ...emptyReport({ model: modelRef(model), method: "directshare", ratio: ratios[ratios.length - 1]!, strategy: s.strategy, granularity: s.granularity }),
      kind: "sweep",
      provider: r.provider,
      seconds: r.seconds,
      sweep: sweepRows(r),
      sweepText: textRef(text),
      sweepProtocol: `${describeProtocol(r.protocol)} · ${r.tokens.toLocaleString("en-US")} tokens`,
    };
    if (!o.noReport) await ReportPanel.show(session, report, resultTitle("Sweep", model, null, text));
    return report;
  } finally {
    await text.cleanup();
  }
}
