/**
 * Whether onnxruntime-node's CUDA provider libraries are installed. They are not in the npm package
 * (too large for the registry): onnxruntime-node's install script downloads them from NuGet, which
 * `.npmrc` skips and the .vsix does not carry. Without them onnxruntime throws "Failed to load
 * shared library" on every session; this check says so up front, with what to do.
 */
import fs from "node:fs";
import path from "node:path";

/** The libraries the CUDA provider loads, beside onnxruntime's own library (linux/x64 only in 1.30). */
const CUDA_FILES: Readonly<Record<string, readonly string[]>> = {
  "linux/x64": ["libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"],
};

export interface CudaLibraries {
  readonly present: boolean;
  /** The folder onnxruntime loads provider libraries from. */
  readonly folder: string;
  readonly missing: readonly string[];
  /** Why CUDA cannot run here and what to do (when not present). */
  readonly reason?: string;
}

/** onnxruntime-node's native folder for this platform (`…/bin/napi-v6/<platform>/<arch>`). */
export function ortNativeFolder(entry: string = require.resolve("onnxruntime-node"), platform: string = process.platform, arch: string = process.arch): string {
  // entry: …/onnxruntime-node/dist/index.js
  return path.join(path.dirname(path.dirname(entry)), "bin", "napi-v6", platform, arch);
}

export function cudaLibraries(folder: string = ortNativeFolder(), platform: string = process.platform, arch: string = process.arch): CudaLibraries {
  const files = CUDA_FILES[`${platform}/${arch}`];
  if (!files) {
    return { present: false, folder, missing: [], reason: `onnxruntime-node has no CUDA provider for ${platform}/${arch} (it ships one for linux/x64 only)` };
  }
  const missing = files.filter((f) => !fs.existsSync(path.join(folder, f)));
  if (missing.length === 0) return { present: true, folder, missing };
  return {
    present: false,
    folder,
    missing,
    reason:
      `the CUDA provider's libraries are not installed (${missing.join(", ")} missing in ${folder}); with internet, run ` +
      "`ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node` where headshare is installed (docs/gpu.md)",
  };
}
