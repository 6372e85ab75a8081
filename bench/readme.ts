/**
 * `npm run bench:readme [-- --check]`: rewrites every benchmark region of README.md and docs/*.md
 * from the latest bench/results/*.json. A region is
 *
 *     <!-- bench:NAME -->  …generated…  <!-- /bench:NAME -->
 *
 * (NAME a bench of bench/run.ts, optionally `NAME:PART` for a bench's other renderings), or
 * `<!-- bench:others -->` for every recorded bench that has no region of its own. Each rendering ends
 * with the machine, load average, mode, date and commit of the run it came from. Nothing between the
 * markers is typed by hand. `--check` rewrites nothing and fails when a file differs from what the
 * JSON gives (the test suite runs it).
 */
import fs from "node:fs";
import path from "node:path";
import type { Bench, BenchResult } from "./run";
import { machineLine } from "./machine";
import { readRecord, type BenchRecord } from "./record";
import { fmtSummary, type Summary } from "./stats";

const MARKER = /<!-- bench:([a-z0-9-]+)(?::([a-z0-9-]+))? -->\n[\s\S]*?<!-- \/bench:\1(?::\2)? -->/g;

/** A markdown "metric | value" table of any JSON result (for benches without their own renderer). */
export function genericTable(r: BenchResult): string {
  const rows: string[] = ["| metric | value |", "| --- | --- |"];
  const walk = (prefix: string, v: unknown): void => {
    if (isSummary(v)) rows.push(`| ${prefix} | ${fmtSummary(v, 4)} |`);
    else if (Array.isArray(v)) v.forEach((x, i) => walk(`${prefix}[${i}]`, x));
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(prefix ? `${prefix}.${k}` : k, x);
    else rows.push(`| ${prefix} | ${typeof v === "number" ? v.toLocaleString("en-US", { maximumSignificantDigits: 6 }) : String(v)} |`);
  };
  walk("", r);
  return rows.join("\n");
}

export function isSummary(v: unknown): v is Summary {
  return !!v && typeof v === "object" && typeof (v as Summary).median === "number" && typeof (v as Summary).n === "number";
}

/** The line under every rendering: where and when the numbers were measured. */
export function provenance(rec: BenchRecord, file: string): string {
  const load = (l: readonly number[]): string =>
    l
      .slice(0, 3)
      .map((x) => x.toFixed(2))
      .join(" / ");
  const commit = `${rec.git.commit.slice(0, 10)}${rec.git.dirty ? " + uncommitted changes" : ""}`;
  return (
    `<sub>Measured by \`npm run bench -- ${rec.mode === "quick" ? "--quick " : ""}--only ${rec.bench}\` (${rec.mode} mode) on ${rec.date.slice(0, 10)}, ` +
    `commit ${commit}; machine: ${machineLine(rec.machine)}${rec.result.ortThreads !== undefined ? `; onnxruntime threads: ${String(rec.result.ortThreads)}` : ""}; load average (1/5/15 min) ${load(rec.load.before)} before, ` +
    `${load(rec.load.after)} after; ${rec.wallSeconds.toFixed(0)} s in all. Source: \`${file}\`.</sub>`
  );
}

function render(bench: Bench | undefined, name: string, part: string, root: string): string {
  const found = readRecord(root, name);
  if (!found) return `_Not measured yet: run \`npm run bench -- --only ${name}\`, then \`npm run bench:readme\`._`;
  const { record, file } = found;
  const parts = bench?.readme ? bench.readme(record.result, record) : { "": genericTable(record.result) };
  const body = parts[part];
  if (body === undefined)
    throw new Error(
      `the bench "${name}" renders no part "${part}" (it renders: ${Object.keys(parts)
        .map((p) => p || "(main)")
        .join(", ")}); fix the marker`,
    );
  return `${body.trimEnd()}\n\n${provenance(record, path.relative(root, file))}`;
}

/** The files with regions: README.md and docs/*.md. */
function targets(root: string): string[] {
  const docs = path.join(root, "docs");
  const md = fs.existsSync(docs)
    ? fs
        .readdirSync(docs)
        .filter((f) => f.endsWith(".md"))
        .sort()
        .map((f) => path.join(docs, f))
    : [];
  return [path.join(root, "README.md"), ...md].filter((f) => fs.existsSync(f));
}

/** Rewrites (or, with check, compares) every region; returns the files that changed (or differ). */
export function generateReadme(root: string, benches: readonly Bench[], check: boolean): string[] {
  const files = targets(root);
  const byName = new Map(benches.map((b) => [b.name, b]));
  const texts = new Map(files.map((f) => [f, fs.readFileSync(f, "utf8")]));
  const covered = new Set<string>();
  for (const t of texts.values()) for (const m of t.matchAll(MARKER)) if (m[1] !== "others") covered.add(m[1]!);
  const changed: string[] = [];
  for (const [file, text] of texts) {
    const next = text.replace(MARKER, (_all, name: string, part: string | undefined) => {
      const open = `<!-- bench:${name}${part ? `:${part}` : ""} -->`,
        close = `<!-- /bench:${name}${part ? `:${part}` : ""} -->`;
      let body: string;
      if (name === "others") {
        const rest = benches.filter((b) => !covered.has(b.name) && readRecord(root, b.name));
        body = rest.length ? rest.map((b) => `#### ${b.name}\n\n${render(b, b.name, "", root)}`).join("\n\n") : "_No other bench has recorded results._";
      } else {
        if (!byName.has(name))
          throw new Error(`${path.relative(root, file)}: marker for an unknown bench "${name}" (benches: ${benches.map((b) => b.name).join(", ")})`);
        body = render(byName.get(name), name, part ?? "", root);
      }
      return `${open}\n${body}\n${close}`;
    });
    if (next !== text) {
      changed.push(path.relative(root, file));
      if (!check) {
        const tmp = path.join(path.dirname(file), `.headshare-tmp-${process.pid}-${path.basename(file)}`);
        fs.writeFileSync(tmp, next);
        fs.renameSync(tmp, file);
      }
    }
  }
  return changed;
}
