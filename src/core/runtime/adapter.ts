/**
 * Which GPU adapter onnxruntime's WebGPU provider (Dawn) would run on, found by a probe process.
 *
 * onnxruntime-node 1.30 names no adapter: its session options, logs and profiles say nothing of the
 * device Dawn picked. On Linux Dawn runs on Vulkan, and the Vulkan loader says which device a
 * VkDevice was created on when `VK_LOADER_DEBUG=driver` is set (`Using "NAME" with driver: "PATH"`,
 * plus the sorted list of every physical device). That goes to the native stderr, which a process
 * cannot read of itself, so a short child process (the same Node, onnxruntime-node loaded from the
 * same folder) creates a one-Gemm WebGPU session, checks its product, and the parent reads its
 * stderr. On Windows (D3D12) and macOS (Metal) the adapter's name comes from the OS's list of video
 * controllers instead. The probe also keeps Dawn out of the calling process when no adapter works.
 */
import { execFile, spawn } from "node:child_process";
import { gemmTransBModel } from "./gemmModel";
import type { GpuAdapter } from "./types";

export { adapterLabel, type GpuAdapter } from "./types";

/** What the probe found: the adapter WebGPU runs on, every adapter listed, or why WebGPU does not run. */
export type WebGpuProbe =
  | { readonly ok: true; readonly adapter: GpuAdapter; readonly adapters: readonly GpuAdapter[]; readonly seconds: number }
  | { readonly ok: false; readonly reason: string; readonly adapters: readonly GpuAdapter[]; readonly seconds: number };

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|softpipe|basic render|\bwarp\b|microsoft basic display/i;

/** Vendor from a device name (drivers put it first). */
export function vendorOf(device: string): string {
  if (/swiftshader/i.test(device)) return "Google";
  if (/llvmpipe|lavapipe|softpipe/i.test(device)) return "Mesa";
  if (/microsoft|warp/i.test(device)) return "Microsoft";
  if (/nvidia|geforce|quadro|tesla/i.test(device)) return "NVIDIA";
  if (/\bamd\b|radeon|radv/i.test(device)) return "AMD";
  if (/intel/i.test(device)) return "Intel";
  if (/apple/i.test(device)) return "Apple";
  return "unknown";
}

export function describeAdapter(name: string, backend: string, driver?: string): GpuAdapter {
  return {
    vendor: vendorOf(name),
    device: name,
    backend,
    ...(driver ? { driver } : {}),
    software: SOFTWARE.test(name) || (driver !== undefined && /swiftshader|lvp|llvmpipe/i.test(driver)),
  };
}

/**
 * The Vulkan loader's driver log (VK_LOADER_DEBUG=driver): the device a VkDevice was created on, and
 * every physical device of the sorted list. Exported for tests.
 */
export function parseLoaderLog(stderr: string): { used?: { name: string; driver: string }; devices: string[] } {
  const devices: string[] = [];
  let used: { name: string; driver: string } | undefined;
  let inSorted = false;
  for (const line of stderr.split("\n")) {
    const u = /Using "(.+)" with driver: "(.+)"/.exec(line);
    if (u) {
      used ??= { name: u[1]!, driver: u[2]! };
      continue;
    }
    if (/Sorted order:/.test(line)) {
      inSorted = true;
      continue;
    }
    const d = /DRIVER:\s+\[\d+\]\s+(.+?)\s*$/.exec(line);
    if (d && inSorted) {
      if (!devices.includes(d[1]!)) devices.push(d[1]!);
      continue;
    }
    if (!/\[\d+\]/.test(line)) inSorted = false;
  }
  return { ...(used ? { used } : {}), devices };
}

/** The probe's own code, run by `node -e` with onnxruntime-node's path and the model in argv. */
const PROBE_SOURCE = `
const ort = require(process.argv[1]);
const model = Buffer.from(process.argv[2], "base64");
(async () => {
  try {
    ort.env.logLevel = "fatal";
    const s = await ort.InferenceSession.create(model, { executionProviders: ["webgpu"], logSeverityLevel: 3 });
    const a = new ort.Tensor("float32", Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const r = await s.run({ A: a, B: a });
    process.stdout.write(JSON.stringify({ ok: true, c: Array.from(r.C.data) }));
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.message || e).split("\\n")[0] }));
  }
})();`;

/** [[1,2,3],[4,5,6]] · itselfᵀ. */
const EXPECTED = [14, 32, 32, 77];

/** Why the probe failed, in words a person can act on. */
function failureReason(error: string, stderr: string): string {
  if (/libvulkan\.so\.1/.test(stderr)) return "no Vulkan loader (libvulkan.so.1); install libvulkan1 and your GPU's Vulkan driver";
  if (/No supported adapters|Failed to get a WebGPU adapter/i.test(error + stderr)) return "no WebGPU adapter (no Vulkan/D3D12/Metal driver for a GPU here)";
  return error;
}

export interface ProbeOptions {
  /** The onnxruntime-node entry to load (default: the one this process resolves). */
  readonly ortEntry?: string;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs the probe process once. */
export function probeWebGpu(opts: ProbeOptions = {}): Promise<WebGpuProbe> {
  const t0 = performance.now();
  const seconds = (): number => (performance.now() - t0) / 1000;
  const entry = opts.ortEntry ?? require.resolve("onnxruntime-node");
  const backend = process.platform === "win32" ? "d3d12" : process.platform === "darwin" ? "metal" : "vulkan";
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["-e", PROBE_SOURCE, entry, Buffer.from(gemmTransBModel()).toString("base64")], {
      env: { ...(opts.env ?? process.env), ELECTRON_RUN_AS_NODE: "1", VK_LOADER_DEBUG: "driver" },
      stdio: ["ignore", "pipe", "pipe"],
      windowsHide: true,
    });
    let out = "",
      err = "";
    child.stdout.on("data", (d: Buffer) => {
      if (out.length < 1e5) out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      if (err.length < 1e6) err += d.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ ok: false, reason: `the probe process did not start (${e.message})`, adapters: [], seconds: seconds() });
    });
    child.on("close", async (code, signal) => {
      clearTimeout(timer);
      const log = parseLoaderLog(err);
      const listed = log.devices.map((d) => describeAdapter(d, backend));
      let res: { ok: boolean; c?: number[]; error?: string } | undefined;
      try {
        res = JSON.parse(out) as typeof res;
      } catch {
        res = undefined;
      }
      if (!res) {
        const why = signal ? `was stopped (${signal}) after ${seconds().toFixed(0)} s` : `exited with code ${code}`;
        return resolve({
          ok: false,
          reason: `the WebGPU probe ${why} without an answer${err ? `: ${lastLine(err)}` : ""}`,
          adapters: listed,
          seconds: seconds(),
        });
      }
      if (!res.ok) return resolve({ ok: false, reason: failureReason(res.error ?? "unknown error", err), adapters: listed, seconds: seconds() });
      if (!res.c || res.c.length !== 4 || res.c.some((x, i) => Math.abs(x - EXPECTED[i]!) > 1e-4)) {
        return resolve({
          ok: false,
          reason: `the WebGPU adapter computed a wrong product in the probe (${JSON.stringify(res.c)}, expected ${JSON.stringify(EXPECTED)})`,
          adapters: listed,
          seconds: seconds(),
        });
      }
      const adapter = log.used ? describeAdapter(log.used.name, backend, log.used.driver) : await osAdapter(backend);
      resolve({ ok: true, adapter, adapters: listed.length ? listed : [adapter], seconds: seconds() });
    });
  });
}

function lastLine(s: string): string {
  const lines = s
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/Vulkan Loader/.test(l));
  return (lines[lines.length - 1] ?? "").slice(0, 300);
}

/** The OS's name for the display adapter (Windows, macOS), or an honest "not reported". */
async function osAdapter(backend: string): Promise<GpuAdapter> {
  const run = (cmd: string, args: string[]): Promise<string> =>
    new Promise((res) => {
      execFile(cmd, args, { timeout: 15_000, windowsHide: true }, (e, stdout) => res(e ? "" : String(stdout)));
    });
  let names: string[] = [];
  if (process.platform === "win32") {
    names = (await run("powershell.exe", ["-NoProfile", "-Command", "(Get-CimInstance Win32_VideoController).Name"]))
      .split(/\r?\n/)
      .map((s) => s.trim())
      .filter(Boolean);
  } else if (process.platform === "darwin") {
    names = [...(await run("system_profiler", ["SPDisplaysDataType"])).matchAll(/Chipset Model:\s*(.+)/g)].map((m) => m[1]!.trim());
  }
  // Dawn asks for the high-performance adapter: a hardware one before a software renderer.
  const hardware = names.filter((n) => !SOFTWARE.test(n));
  const name = hardware[0] ?? names[0];
  return name ? describeAdapter(name, backend) : { vendor: "unknown", device: "an adapter onnxruntime does not name", backend, software: false };
}

let cached: Promise<WebGpuProbe> | undefined;

/** The probe's answer for this process (run once; the adapters do not change while it runs). */
export function webGpuProbe(): Promise<WebGpuProbe> {
  cached ??= probeWebGpu();
  return cached;
}
