/**
 * Colours for canvas/SVG drawing, read from VS Code's theme variables (light, dark, high contrast),
 * and the score colour scale (d3-scale-chromatic). Canvas cannot use CSS variables, so they are
 * resolved here and re-read when VS Code switches theme (it changes the body class).
 */
import { scaleSequential } from "d3-scale";
import { interpolateCividis, interpolateViridis } from "d3-scale-chromatic";

export interface Theme {
  readonly kind: "light" | "dark" | "high-contrast" | "high-contrast-light";
  readonly background: string;
  readonly foreground: string;
  readonly muted: string;
  readonly border: string;
  readonly focus: string;
  /** Marks selected targets and root lines. */
  readonly accent: string;
  readonly accent2: string;
  readonly grid: string;
  readonly font: string;
  /** Score in [lo, hi] → colour. */
  readonly score: (lo: number, hi: number) => (v: number) => string;
}

function cssVar(name: string, fallback: string): string {
  const v = getComputedStyle(document.body).getPropertyValue(name).trim();
  return v || fallback;
}

export function readTheme(): Theme {
  const c = document.body.classList;
  const kind: Theme["kind"] = c.contains("vscode-high-contrast-light")
    ? "high-contrast-light"
    : c.contains("vscode-high-contrast")
      ? "high-contrast"
      : c.contains("vscode-light")
        ? "light"
        : "dark";
  const hc = kind.startsWith("high-contrast");
  const dark = kind === "dark" || kind === "high-contrast";
  const foreground = cssVar("--vscode-foreground", dark ? "#cccccc" : "#3b3b3b");
  return {
    kind,
    background: cssVar("--vscode-editor-background", dark ? "#1e1e1e" : "#ffffff"),
    foreground,
    muted: cssVar("--vscode-descriptionForeground", dark ? "#9d9d9d" : "#717171"),
    border: hc ? cssVar("--vscode-contrastBorder", foreground) : cssVar("--vscode-panel-border", dark ? "#3c3c3c" : "#e5e5e5"),
    focus: cssVar("--vscode-focusBorder", "#0078d4"),
    accent: cssVar("--vscode-charts-red", dark ? "#f14c4c" : "#e51400"),
    accent2: cssVar("--vscode-charts-orange", dark ? "#d18616" : "#d18616"),
    grid: cssVar("--vscode-editorWidget-border", dark ? "#454545" : "#c8c8c8"),
    font: `${cssVar("--vscode-editor-font-size", "12px")} ${cssVar("--vscode-font-family", "sans-serif")}`,
    // Viridis reads on light and dark backgrounds and for colour-blind users; high contrast gets cividis
    // (a stronger luminance ramp) plus explicit cell borders drawn by the heatmap.
    score: (lo, hi) => {
      const s = scaleSequential(hc ? interpolateCividis : interpolateViridis)
        .domain([lo, hi === lo ? lo + 1e-9 : hi])
        .clamp(true);
      return (v: number) => s(v);
    },
  };
}

/** Calls `fn` whenever VS Code switches theme (body class change). */
export function onThemeChange(fn: () => void): void {
  new MutationObserver(fn).observe(document.body, { attributes: true, attributeFilter: ["class"] });
}

/** Sizes a canvas for the device pixel ratio and returns its 2-D context scaled to CSS pixels. */
export function setupCanvas(canvas: HTMLCanvasElement, width: number, height: number): CanvasRenderingContext2D {
  const dpr = Math.max(1, window.devicePixelRatio || 1);
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("canvas 2d context unavailable");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}
