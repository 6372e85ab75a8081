/**
 * Webview entry (dist/webview.js): asks the host for its data (`webview/ready`), renders the requested
 * view (sharing map, report, inspect), and re-renders when the host pushes new data.
 */
import "./zodJitless"; // first: before any schema is built
import type { Init } from "../protocol/webview";
import { h } from "./dom";
import { routeGenerated } from "./generateView";
import { Host } from "./host";
import { InspectView } from "./inspectView";
import { MapView } from "./mapView";
import { ReportView } from "./reportView";
import { onThemeChange } from "./theme";
import { registerToolkit } from "./toolkit";

registerToolkit();
const host = new Host();
const root = document.getElementById("root") ?? document.body.appendChild(h("main", { id: "root" }));
let view: MapView | ReportView | InspectView | undefined;
/** The body width the open view was laid out for (a resize to another width redraws it). */
let drawnWidth = document.body.clientWidth;

function render(init: Init): void {
  root.replaceChildren();
  root.removeAttribute("aria-busy");
  root.dataset.view = init.view;
  view =
    init.view === "map"
      ? new MapView(root, host, init)
      : init.view === "report"
        ? new ReportView(root, host, init.report, init.reportFile ?? null)
        : new InspectView(root, host, init.inspect);
  drawnWidth = document.body.clientWidth;
  document.body.dataset.ready = "true";
}

host.rpc.on("webview/init", render);
host.rpc.on("webview/progress", (p) => {
  if (view instanceof MapView) view.setBusy(p.message, p.fraction);
  else if (view instanceof ReportView) view.setBusy(p.message);
});
host.rpc.on("webview/generated", routeGenerated);

const redraw = () => {
  if (view instanceof MapView || view instanceof ReportView) view.redraw();
};
onThemeChange(redraw);
let resizeTimer: number | undefined;
// Only a width change redraws (the views lay out by width): the observer's first call, and a page that only
// grew taller, would otherwise rebuild the report under the user's pointer.
new ResizeObserver(() => {
  window.clearTimeout(resizeTimer);
  resizeTimer = window.setTimeout(() => {
    if (document.body.clientWidth !== drawnWidth) {
      drawnWidth = document.body.clientWidth;
      redraw();
    }
  }, 100);
}).observe(document.body);

host.rpc.request("webview/ready", {}).then(render, (e: unknown) => {
  root.replaceChildren(h("p", { class: "error", role: "alert", id: "load-error" }, e instanceof Error ? e.message : String(e)));
  root.removeAttribute("aria-busy");
  document.body.dataset.ready = "error";
});
