// The benchmark records and the README generator (bench/record.ts, bench/readme.ts): the committed
// README/docs regions equal what bench/results/*.json renders (no hand-typed benchmark number), the
// machine description from /proc/cpuinfo, and the generator's rewriting rules on a scratch tree.
import test from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BENCHES, type Bench } from "../bench/run";
import { parseCpuinfo, repoRoot } from "../bench/machine";
import { generateReadme } from "../bench/readme";
import { makeRecord, readRecord, writeRecord } from "../bench/record";
import { summarize } from "../bench/stats";

test("bench readme: README.md and docs/*.md regions equal what bench/results/*.json renders (run `npm run bench:readme`)", () => {
  const root = repoRoot();
  assert.ok(fs.existsSync(path.join(root, "README.md")), `repo root ${root}`);
  assert.deepEqual(generateReadme(root, BENCHES, true), [], "regions out of date: run `npm run bench:readme`");
});

test("bench machine: /proc/cpuinfo gives the model, physical cores and vector extensions", () => {
  const block = (core: number, flags: string) =>
    `processor\t: ${core}\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\nphysical id\t: 0\ncore id\t\t: ${core >> 1}\nflags\t\t: fpu sse4_2 avx ${flags} fma\n`;
  const info = parseCpuinfo([block(0, "avx2 f16c"), block(1, "avx2 f16c"), block(2, "avx2 f16c"), block(3, "avx2 f16c")].join("\n"));
  assert.deepEqual(info, { model: "AMD EPYC 7B13", physicalCores: 2, flags: ["sse4_2", "avx", "f16c", "fma", "avx2"] });
  const arm = parseCpuinfo("processor\t: 0\nFeatures\t: fp asimd asimdhp sve\n");
  assert.deepEqual(arm.flags, ["asimd", "asimdhp", "sve"]);
});

test("bench stats: median, range and percentiles", () => {
  assert.deepEqual(summarize([5, 1, 3, 2, 4]), { n: 5, median: 3, min: 1, max: 5, p10: 1.4, p90: 4.6 });
  assert.deepEqual(summarize([2, 4]), { n: 2, median: 3, min: 2, max: 4, p10: 2.2, p90: 3.8 });
});

test("bench readme: regions are rewritten from the latest record (full before quick), with the machine; bad markers are refused", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "headshare-bench-readme-"));
  try {
    const demo: Bench = { name: "demo", run: async () => ({}), readme: (r) => ({ "": `| x |\n| --- |\n| ${String(r.x)} |`, extra: `extra ${String(r.x)}` }) };
    const plain: Bench = { name: "plain", run: async () => ({}) };
    fs.writeFileSync(
      path.join(root, "README.md"),
      "# t\n\n<!-- bench:demo -->\nhand-typed 953×\n<!-- /bench:demo -->\n\n<!-- bench:demo:extra -->\n<!-- /bench:demo:extra -->\n\n<!-- bench:others -->\n<!-- /bench:others -->\ntail\n",
    );
    const changedEmpty = generateReadme(root, [demo, plain], false);
    assert.deepEqual(changedEmpty, ["README.md"]);
    let text = fs.readFileSync(path.join(root, "README.md"), "utf8");
    assert.match(text, /<!-- bench:demo -->\n_Not measured yet: run `npm run bench -- --only demo`/);
    assert.doesNotMatch(text, /953/, "the hand-typed number is gone");
    writeRecord(root, makeRecord(root, "demo", "quick", [1, 2, 3], 4, { x: 7 }));
    writeRecord(root, makeRecord(root, "plain", "full", [1, 2, 3], 4, { a: { b: 1.5 }, s: summarize([1, 2, 3]) }));
    generateReadme(root, [demo, plain], false);
    text = fs.readFileSync(path.join(root, "README.md"), "utf8");
    assert.match(
      text,
      /<!-- bench:demo -->\n\| x \|\n\| --- \|\n\| 7 \|\n\n<sub>Measured by `npm run bench -- --quick --only demo` \(quick mode\) on \d{4}-\d\d-\d\d, commit .*machine: .*logical CPUs.*load average \(1\/5\/15 min\) 1\.00 \/ 2\.00 \/ 3\.00 before.*Source: `bench\/results\/demo\.quick\.json`\.<\/sub>\n<!-- \/bench:demo -->/,
    );
    assert.match(text, /<!-- bench:demo:extra -->\nextra 7\n/);
    assert.match(
      text,
      /<!-- bench:others -->\n#### plain\n\n\| metric \| value \|\n\| --- \| --- \|\n\| a\.b \| 1\.5 \|\n\| s \| 2\.0000 \(1\.0000–3\.0000, n = 3\) \|/,
    );
    assert.match(text, /\ntail\n$/);
    assert.deepEqual(generateReadme(root, [demo, plain], true), [], "idempotent");
    writeRecord(root, makeRecord(root, "demo", "full", [0, 0, 0], 1, { x: 8 }));
    assert.equal(readRecord(root, "demo")!.record.mode, "full", "a full run's record wins over a quick one");
    assert.deepEqual(generateReadme(root, [demo, plain], true), ["README.md"], "--check reports the stale file and writes nothing");
    assert.match(fs.readFileSync(path.join(root, "README.md"), "utf8"), /\| 7 \|/);
    fs.appendFileSync(path.join(root, "README.md"), "<!-- bench:nosuch -->\n<!-- /bench:nosuch -->\n");
    assert.throws(() => generateReadme(root, [demo, plain], false), /marker for an unknown bench "nosuch"/);
    fs.writeFileSync(path.join(root, "bench/results/plain.json"), "{");
    assert.throws(() => readRecord(root, "plain"), /plain\.json: not valid JSON.*npm run bench -- --only plain/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});
