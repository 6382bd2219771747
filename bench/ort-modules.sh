#!/usr/bin/env bash
# ort-modules.sh BUILD VERSION: prints the node_modules folder holding onnxruntime-node@VERSION,
# installing it under BUILD/bench first when no build folder has it; prints nothing and fails
# when npm's registry cannot be reached. --ignore-scripts: the package's install script would
# download GPU libraries; its CPU library is already in the package.
BUILD=$1
VERSION=$2
for prefix in "$BUILD/tests/export/onnxruntime-node-$VERSION" "$BUILD/bench/onnxruntime-node-$VERSION"; do
  [ -f "$prefix/node_modules/onnxruntime-node/package.json" ] && { echo "$prefix/node_modules"; exit 0; }
done
prefix="$BUILD/bench/onnxruntime-node-$VERSION"
mkdir -p "$prefix"
npm install --ignore-scripts --no-audit --no-fund --prefix "$prefix" "onnxruntime-node@$VERSION" >/dev/null 2>&1 || exit 1
echo "$prefix/node_modules"
