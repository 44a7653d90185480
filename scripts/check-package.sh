#!/usr/bin/env bash
# Package checks on the packed tarball, as it would be published:
#   1. publint --strict   (package.json exports / files / fields; warnings count as errors),
#   2. attw               (@arethetypeswrong/cli: types for import and require, for the root and
#                          each subpath, under node10, node16 (ESM and CJS) and bundler),
#   3. scripts/consumer-test.sh with the same tarball.
# Expects a current dist/ (`npm run build`): it packs with --ignore-scripts so that prepack does
# not build a second time.
#
#   npm run build && bash scripts/check-package.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
test -f dist/index.js || { echo "check-package: dist/ is missing; run npm run build first" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
name="$(npm pack --silent --ignore-scripts --pack-destination "$work" | tail -n 1)"
tarball="$work/$name"
echo "packed $name ($(du -k "$tarball" | cut -f1) KiB)"

npx --no-install publint run --strict "$tarball"
npx --no-install attw "$tarball"
bash "$root/scripts/consumer-test.sh" "$tarball"
