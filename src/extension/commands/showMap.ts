/** Headshare: Show Sharing Map — the match table (computed once, cached) as a live heatmap. */
import * as vscode from "vscode";
import { openCheckpoint } from "../checkInput";
import { withJobNotification } from "../runningJobs";
import { modelRef } from "../displayShapes";
import { pickModel } from "../modelPick";
import { MapPanel } from "../panels/mapPanel";
import type { Session } from "../session";
import { requireTrust } from "../trust";
import type { Granularity } from "../../core/model/types";
import type { Strategy } from "../../core/share/types";

export interface ShowMapOptions {
  readonly strategy?: Strategy;
  readonly granularity?: Granularity;
  readonly ratio?: number;
}

export async function showMapCommand(session: Session, uri: vscode.Uri | undefined, o: ShowMapOptions = {}): Promise<MapPanel | undefined> {
  await requireTrust("Show Sharing Map");
  const model = await pickModel(uri, MapPanel.active?.model, "Show the sharing map of which checkpoint?");
  if (!model) return undefined;
  await openCheckpoint(session, model, { what: "Show Sharing Map" });
  const s = session.settings;
  const strategy = o.strategy ?? s.strategy,
    granularity = o.granularity ?? s.granularity;
  const name = modelRef(model).name;
  const { table } = await withJobNotification(session.jobs, `Headshare: matching heads of ${name}`, `match ${name}`, (job) =>
    session.matchTable(job, model, strategy, granularity),
  );
  return MapPanel.show(session, model, table, o.ratio ?? s.defaultRatio);
}
