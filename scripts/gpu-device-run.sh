#!/usr/bin/env bash
# Runs on the lent GPU machine (the `device` tool, after scripts/gpu-device-pack.sh here, carrying
# .gl, .gpu and out/bench): brings the Vulkan loader (the device README's recipe), Node and
# onnxruntime-node, lists the devices headshare sees, then `--only gpu` of the bench. Output in
# $OUT/gpu-bench.txt (and on stdout).
set -uo pipefail
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES="$icd" __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
mkdir -p /tmp/hs-node && tar -C /tmp/hs-node -xJf .gpu/node.tar.xz && tar -xJf .gpu/ort.tar.xz
node=/tmp/hs-node/$(ls /tmp/hs-node | head -1)
out="${OUT:-/tmp}/gpu-bench.txt"
{
  echo "== nvidia-smi"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1
  echo "== ldconfig"; ldconfig -p | grep -i libvulkan
  echo "== bench (HEADSHARE_BENCH_GPU_LAYERS=${HEADSHARE_BENCH_GPU_LAYERS:-32})"
  HEADSHARE_BENCH_CACHE=/tmp/hs-bench "$node" out/bench/run.js --only gpu ${BENCH_ARGS:-}
} 2>&1 | tee "$out"
