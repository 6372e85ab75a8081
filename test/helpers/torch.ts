/**
 * Finds a Python with PyTorch for the PostShare job tests (train.py): $HEADSHARE_PYTHON, Debian's
 * /usr/bin/python3 (apt's python3-torch; a pyenv `python3` earlier on PATH may lack it), then
 * `python3`. Tests skip with the printed reason when none imports torch.distributed.
 */
import { spawnSync } from "node:child_process";

let found: { python?: string; reason: string } | undefined;

function probe(): { python?: string; reason: string } {
  const tried: string[] = [];
  for (const py of [process.env.HEADSHARE_PYTHON, "/usr/bin/python3", "python3"].filter((p): p is string => !!p)) {
    const r = spawnSync(py, ["-c", "import torch, torch.distributed as d; assert d.is_available(); print(torch.__version__)"], {
      encoding: "utf8",
      timeout: 60_000,
    });
    if (r.status === 0) return { python: py, reason: r.stdout.trim() };
    tried.push(`${py}: ${(r.stderr || r.error?.message || "").trim().split("\n").pop() ?? "failed"}`);
  }
  return { reason: `no Python with PyTorch (torch.distributed) found (${tried.join("; ")}); install python3-torch (apt) or set HEADSHARE_PYTHON` };
}

/** The Python to run train.py with, or undefined. */
export function torchPython(): string | undefined {
  found ??= probe();
  return found.python;
}

/** `false` when PyTorch is available, else the skip reason. */
export function torchSkip(): false | string {
  found ??= probe();
  return found.python ? false : found.reason;
}
