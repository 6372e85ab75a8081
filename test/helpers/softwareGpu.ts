/**
 * SwiftShader (a Vulkan implementation on the CPU, shipped by Debian's chromium package) as the GPU
 * for tests of the WebGPU provider. Dawn needs the Vulkan loader (libvulkan.so.1: the system's, or
 * the copy chromium keeps beside SwiftShader) and the ICD json; the environment is given to the
 * processes the tests start (dlopen reads LD_LIBRARY_PATH at process start). Tests skip with the
 * printed reason when it is absent. HEADSHARE_TEST_VK_ICD names another ICD json.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const ICD = process.env.HEADSHARE_TEST_VK_ICD ?? "/usr/lib/chromium/vk_swiftshader_icd.json";

function systemLoader(): boolean {
  try {
    return /libvulkan\.so\.1\b/.test(execFileSync("ldconfig", ["-p"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
  } catch {
    return false;
  }
}

/** The environment that makes SwiftShader the only WebGPU adapter, or why it cannot. */
export function softwareGpu(): { env: NodeJS.ProcessEnv; skip: false } | { skip: string } {
  if (process.platform !== "linux") return { skip: "the software-GPU tests run on Linux (SwiftShader from Debian's chromium)" };
  if (!fs.existsSync(ICD)) return { skip: `SwiftShader is not installed (${ICD} is absent; apt-get install chromium, as .ci/run does)` };
  const dir = path.dirname(ICD);
  const bundled = fs.existsSync(path.join(dir, "libvulkan.so.1"));
  if (!bundled && !systemLoader()) return { skip: `no Vulkan loader: neither ${dir}/libvulkan.so.1 nor a system libvulkan.so.1 (apt-get install libvulkan1)` };
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    VK_ICD_FILENAMES: ICD,
    XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? os.tmpdir(),
    ...(bundled ? { LD_LIBRARY_PATH: [dir, process.env.LD_LIBRARY_PATH].filter(Boolean).join(":") } : {}),
  };
  return { env, skip: false };
}
