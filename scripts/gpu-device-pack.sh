#!/usr/bin/env bash
# Prepares, on this machine, what `npm run bench -- --only gpu` needs on a lent GPU machine (the
# `device` tool; docs/gpu.md "On a lent GPU machine"): the bench bundle (out/bench), Node and
# onnxruntime-node's Linux x64 libraries compressed into .gpu/, and the Vulkan loader's Debian
# packages in .gl/ (the device README's recipe). That machine reaches no registry and has no Node.
set -euo pipefail
cd "$(dirname "$0")/.."
# The device tool sends the checkout its session started in (also when a helper calls it from a
# worktree): run this there. In a worktree .git is a file; git names the exclude file (shared by all).
exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")"
for p in /.gpu/ /.gl/; do grep -qxF "$p" "$exclude" 2>/dev/null || echo "$p" >> "$exclude"; done
node scripts/build.mjs --bench
mkdir -p .gpu .gl
node_bin="$(readlink -f "$(command -v node)")"
tar -C "$(dirname "$node_bin")" -cJf .gpu/node.tar.xz "$(basename "$node_bin")"
tar -cJf .gpu/ort.tar.xz node_modules/onnxruntime-common node_modules/onnxruntime-node/package.json \
  node_modules/onnxruntime-node/dist node_modules/onnxruntime-node/bin/napi-v6/linux/x64
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  mkdir -p /tmp/amd64/partial
  apt-get $o update -qq
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh .gpu .gl out/bench
# What travels: tracked and untracked-not-ignored files plus the carried paths, 64 MiB at most.
tree=$(git ls-files -co --exclude-standard -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
carried=$(du -cb .gpu .gl out/bench | tail -1 | cut -f1)
echo "travels: $(( (tree + carried) / 1048576 )) MiB of 64 MiB (working tree $(( tree / 1048576 )) MiB)"
[ $(( tree + carried )) -lt $(( 63 * 1048576 )) ] || { echo "too large for the device tool (64 MiB): remove untracked files or carry less" >&2; exit 1; }
echo 'carry: [".gl", ".gpu", "out/bench"]; command: bash scripts/gpu-device-run.sh'
