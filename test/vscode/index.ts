/** Mocha entry run by VS Code's extension host (extensionTestsPath): loads the bundled test files beside it. */
import fs from "node:fs";
import path from "node:path";
import Mocha from "mocha";

export function run(): Promise<void> {
  const mocha = new Mocha({ ui: "bdd", timeout: 120_000, color: false, reporter: "spec" });
  for (const f of fs.readdirSync(__dirname).filter((n) => n.endsWith(".test.js")).sort()) mocha.addFile(path.join(__dirname, f));
  return new Promise((resolve, reject) => mocha.run((failures) => (failures ? reject(new Error(`${failures} extension test(s) failed`)) : resolve())));
}
