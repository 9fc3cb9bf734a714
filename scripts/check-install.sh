#!/usr/bin/env bash
# Proves a fresh clone installs with the npm that Node 20 ships (npm 10) as well as with the current npm:
# onnxruntime-node's postinstall must not try to download CUDA binaries (.npmrc tells it to skip).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
npm_version=${1:-10}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
git clone -q "$repo" "$tmp/clone"
cd "$tmp/clone"
# No ONNXRUNTIME_NODE_INSTALL from the caller: the repository's own files must be enough.
env -u ONNXRUNTIME_NODE_INSTALL -u npm_config_onnxruntime_node_install npx -y "npm@$npm_version" ci --no-audit --no-fund
node -e "import('onnxruntime-node').then((ort) => ort.default.InferenceSession ? console.log('onnxruntime-node loads after npm@$npm_version ci') : process.exit(1))"
