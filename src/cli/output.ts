/**
 * CLI output helpers: error formatting (one line `headshare: <message>`, the stack only with
 * --debug), numbers, byte sizes and plain-text tables.
 */
import { UsageError } from "./args";
import { adapterLabel, type ComputeInfo } from "../protocol/common";

/** `webgpu — NVIDIA H100 80GB HBM3 (NVIDIA, vulkan)`: a result's provider and, when it had one, its GPU adapter. */
export function device(r: { readonly provider: string; readonly compute?: ComputeInfo | undefined }): string {
  return r.compute?.adapter && r.compute.provider === r.provider ? `${r.provider} — ${adapterLabel(r.compute.adapter)}` : r.provider;
}

/** The text to print on stderr for an error. */
export function formatError(e: unknown, debug: boolean): string {
  if (e instanceof UsageError) return `headshare: ${e.message}\n\n${e.usage}`;
  const known = e instanceof Error && typeof (e as { code?: unknown }).code === "string";
  const msg = e instanceof Error ? e.message : String(e);
  const oneLine = msg.replace(/\s*\n\s*/g, " ").trim();
  let out = known ? `headshare: ${oneLine}` : `headshare: internal error: ${oneLine}${debug ? "" : " (run again with --debug for details)"}`;
  if (debug && e instanceof Error && e.stack) out += `\n${e.stack}`;
  return out;
}

/** 1234567 → "1,234,567". */
export function int(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** 1536 → "1.5 KiB". */
export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n,
    u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

export function pct(x: number, digits = 1): string {
  return `${(100 * x).toFixed(digits)}%`;
}

/** Left-aligned columns, numbers right-aligned when `right[i]`. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], right: readonly boolean[] = []): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/** Key/value lines with aligned values. */
export function keyValues(pairs: readonly (readonly [string, string])[]): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(w + 1)} ${v}`).join("\n");
}

/** Writes to stdout and waits for it to drain (so exit codes never cut output). */
export function writeOut(text: string): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(text.endsWith("\n") ? text : `${text}\n`)) resolve();
    else process.stdout.once("drain", () => resolve());
  });
}
