/** Mocha entry run by VS Code's extension host (extensionTestsPath): loads the bundled test files beside it. */
import fs from "node:fs";
import path from "node:path";
import Mocha from "mocha";

export function run(): Promise<void> {
  // HEADSHARE_TEST_GREP: only the tests whose titles match (e.g. "Issue 18"), for a quick run of one suite.
  const grep = process.env.HEADSHARE_TEST_GREP;
  const mocha = new Mocha({ ui: "bdd", timeout: 120_000, color: false, reporter: "spec", ...(grep ? { grep } : {}) });
  // HEADSHARE_TEST_MODE=restricted (a window in Restricted Mode) runs restricted.test.js only; otherwise every other file.
  const restricted = process.env.HEADSHARE_TEST_MODE === "restricted";
  for (const f of fs
    .readdirSync(__dirname)
    .filter((n) => n.endsWith(".test.js"))
    .sort()) {
    if ((f === "restricted.test.js") === restricted) mocha.addFile(path.join(__dirname, f));
  }
  return new Promise((resolve, reject) => mocha.run((failures) => (failures ? reject(new Error(`${failures} extension test(s) failed`)) : resolve())));
}
