/**
 * Export of rendered views: SVG as text, PNG as base64 (from a canvas, or an SVG rasterised on a canvas),
 * JSON/CSV as text. The host asks the user where to save (the webview cannot write files).
 */

export function svgText(svg: SVGSVGElement): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(svg)}\n`;
}

export function canvasPngBase64(canvas: HTMLCanvasElement): string {
  return canvas.toDataURL("image/png").replace(/^data:image\/png;base64,/, "");
}

/** Rasterises an SVG on a 2× canvas (the CSP allows data: images). */
export async function svgPngBase64(svg: SVGSVGElement): Promise<string> {
  const w = Number(svg.getAttribute("width")),
    hgt = Number(svg.getAttribute("height"));
  const url = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(new XMLSerializer().serializeToString(svg))}`;
  const img = new Image();
  await new Promise<void>((resolve, reject) => {
    img.onload = () => resolve();
    img.onerror = () => reject(new Error("could not rasterise the SVG"));
    img.src = url;
  });
  const canvas = document.createElement("canvas");
  canvas.width = w * 2;
  canvas.height = hgt * 2;
  const ctx = canvas.getContext("2d")!;
  ctx.scale(2, 2);
  ctx.drawImage(img, 0, 0, w, hgt);
  return canvasPngBase64(canvas);
}

/** Stacks several SVGs vertically into one (export of a whole view). */
export function stackSvgs(parts: readonly SVGSVGElement[], background: string): SVGSVGElement {
  const width = Math.max(...parts.map((p) => Number(p.getAttribute("width"))));
  const height = parts.reduce((a, p) => a + Number(p.getAttribute("height")) + 8, 0);
  const ns = "http://www.w3.org/2000/svg";
  const out = document.createElementNS(ns, "svg") as SVGSVGElement;
  out.setAttribute("xmlns", ns);
  out.setAttribute("width", String(width));
  out.setAttribute("height", String(height));
  out.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const bg = document.createElementNS(ns, "rect");
  bg.setAttribute("width", String(width));
  bg.setAttribute("height", String(height));
  bg.setAttribute("fill", background);
  out.append(bg);
  let y = 0;
  for (const p of parts) {
    const g = document.createElementNS(ns, "g");
    g.setAttribute("transform", `translate(0 ${y})`);
    g.append(p.cloneNode(true));
    out.append(g);
    y += Number(p.getAttribute("height")) + 8;
  }
  return out;
}

/** A file-name-safe stem from a model name. */
export function stem(name: string): string {
  return (
    name
      .replace(/[^\w.-]+/g, "_")
      .replace(/^\.+/, "")
      .slice(0, 60) || "model"
  );
}
