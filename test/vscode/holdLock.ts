/**
 * A live writer for the real-VS-Code lock test (test/vscode/ui-lock-steps.mjs), run as its own Node
 * process: `node holdLock.js OUT` takes OUT's writer lock through the core (src/core/output/lock.ts,
 * so the lock file holds this process's real owner tag), prints "locked <lock file>", and holds it
 * until a line or the end of stdin arrives; then it releases the lock and exits 0.
 */
import { lockOutput } from "../../src/core/output/lock";

async function main(): Promise<void> {
  const out = process.argv[2];
  if (!out) throw new Error("usage: node holdLock.js OUT");
  const lock = await lockOutput(out, { what: "a test's held lock" });
  process.stdout.write(`locked ${lock.file}\n`);
  await new Promise<void>((resolve) => {
    process.stdin.once("data", () => resolve());
    process.stdin.once("end", () => resolve());
  });
  await lock.release();
  process.stdout.write("released\n");
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
