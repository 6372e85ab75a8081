#!/usr/bin/env bash
# Runs on the lent GPU machine (the `device` tool, after scripts/gpu-device-pack.sh here, carrying
# .gl, .gpu and out/bench): brings the Vulkan loader (the device README's recipe), Node and
# onnxruntime-node, prints the GPU, the loader and Node, then `--only gpu` of the bench. Output in
# $OUT/gpu-bench.txt (and on stdout), the bench's record in $OUT/gpu*.json. BENCH_ARGS=--quick and
# HEADSHARE_BENCH_GPU_LAYERS=4 keep a first try short.
set -uo pipefail
cd "$(dirname "$0")/.."
for d in .gl .gpu out/bench; do [ -e "$d" ] || { echo "$d is missing: run scripts/gpu-device-pack.sh in the checkout the device tool sends, and carry [\".gl\", \".gpu\", \"out/bench\"]" >&2; exit 2; }; done
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES="$icd" __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
# Dawn's Vulkan loader wants a runtime folder (the software-GPU tests set it too).
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
mkdir -p /tmp/hs-node && tar -C /tmp/hs-node -xJf .gpu/node.tar.xz && tar -xJf .gpu/ort.tar.xz
node=/tmp/hs-node/$(ls /tmp/hs-node | head -1)
out="${OUT:-/tmp}"
(
  echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
  echo "== ldconfig"; ldconfig -p | grep -i libvulkan || echo "no libvulkan after unpacking .gl: WebGPU cannot run"
  echo "== node"; "$node" --version && ldd "$node" | grep "not found"
  echo "== bench (HEADSHARE_BENCH_GPU_LAYERS=${HEADSHARE_BENCH_GPU_LAYERS:-32})"
  HEADSHARE_BENCH_CACHE=/tmp/hs-bench "$node" out/bench/run.js --only gpu ${BENCH_ARGS:-}
  rc=$?
  echo "== exit $rc"
  exit $rc
) 2>&1 | tee "$out/gpu-bench.txt"
rc=${PIPESTATUS[0]}
# The record (bench/results/gpu[.quick].json) comes back beside the log, for npm run bench:readme here.
cp bench/results/gpu*.json "$out"/ 2>/dev/null || true
exit "$rc"
