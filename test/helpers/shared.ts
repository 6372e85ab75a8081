/**
 * Locates `../shared` (real models and texts, present in CI and dev sessions, absent on a user's
 * fresh clone). Tests that need it call `sharedPath(...)` and skip with the printed reason when it
 * returns undefined: `test("x", { skip: sharedSkip("models/stories260K-hf") }, ...)`.
 */
import fs from "node:fs";
import path from "node:path";

const candidates = [process.env.HEADSHARE_SHARED_DIR, path.resolve(__dirname, "../../../shared"), path.resolve(process.cwd(), "../shared")].filter(
  (p): p is string => !!p,
);

/** Absolute path of `../shared/<rel>` when it exists, else undefined. */
export function sharedPath(...rel: string[]): string | undefined {
  for (const base of candidates) {
    const p = path.join(base, ...rel);
    if (fs.existsSync(p)) return p;
  }
  return undefined;
}

/** `false` when `../shared/<rel>` exists, else a skip reason naming what is missing (node:test prints it). */
export function sharedSkip(...rel: string[]): false | string {
  return sharedPath(...rel) ? false : `../shared/${rel.join("/")} is not present (it exists in CI and dev sessions only)`;
}

/** The `../shared` folder itself when it holds `<rel>` (benches that join several of its paths), else undefined. */
export function sharedRoot(...rel: string[]): string | undefined {
  const p = sharedPath(...rel);
  return p && path.resolve(p, ...rel.flatMap((r) => r.split("/")).map(() => ".."));
}
