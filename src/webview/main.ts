/**
 * Webview entry (dist/webview.js): posts `ready`, waits for `init`, renders the requested view
 * (sharing map, report, inspect), then handles the host's progress/result messages.
 */
import "./zodJitless";   // first: before any schema is built
import { h } from "./dom";
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

host.listen((m) => {
  switch (m.type) {
    case "init": {
      root.replaceChildren();
      root.removeAttribute("aria-busy");
      root.dataset.view = m.init.view;
      view = m.init.view === "map" ? new MapView(root, host, m.init)
        : m.init.view === "report" ? new ReportView(root, host, m.init.report, m.init.reportFile ?? null)
          : new InspectView(root, host, m.init.inspect);
      document.body.dataset.ready = "true";
      break;
    }
    case "busy": if (view instanceof MapView) view.setBusy(m.message, m.fraction); break;
    case "evalResult": if (view instanceof MapView) view.showEval(m.eval); break;
    case "error":
      if (view instanceof MapView) view.showError(m.message);
      else root.prepend(h("p", { class: "error", role: "alert" }, m.message));
      break;
    case "exported": {
      const note = h("p", { class: "hint", role: "status", id: "export-note" }, `Saved ${m.path}`);
      document.getElementById("export-note")?.remove();
      root.prepend(note);
      break;
    }
  }
});

const redraw = () => { if (view instanceof MapView || view instanceof ReportView) view.redraw(); };
onThemeChange(redraw);
let resizeTimer: number | undefined;
new ResizeObserver(() => { window.clearTimeout(resizeTimer); resizeTimer = window.setTimeout(redraw, 100); }).observe(document.body);
host.post({ type: "ready" });
