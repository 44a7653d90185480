#!/usr/bin/env bash
# Consumer test: install the packed package into a fresh temporary project and use it the way a
# consumer would, through the public entry points only:
#   - test-consumer/esm.mjs   with `import`   (the ESM build),
#   - test-consumer/cjs.cjs   with `require`  (the CommonJS build),
#   - test-consumer/consumer.ts type-checked under moduleResolution node16 (as consumer.ts, an ES
#     module, and as a copy consumer.cts, a CommonJS module) and under moduleResolution bundler,
#     with skipLibCheck off so the shipped declarations are checked too.
# Each builds a table, translates, and runs a short simulation.
#
#   bash scripts/consumer-test.sh [path/to/vdisk-map-x.y.z.tgz]
#
# Without an argument it packs the working tree (`npm pack`, whose prepack script builds dist/).
# The temporary project installs the tarball, its dependency (fp-ts), fast-check (the
# optional peer dependency of vdisk-map/testing) and TypeScript from the registry; --prefer-offline
# lets npm's cache answer when it can. The repository's node_modules is deliberately not used, so
# a missing or wrong `dependencies` entry fails here as it would for a consumer.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ $# -ge 1 ]; then
  tarball="$(realpath "$1")"
else
  tarball="$work/$(cd "$root" && npm pack --silent --pack-destination "$work" | tail -n 1)"
fi
test -f "$tarball" || { echo "consumer-test: no tarball at $tarball" >&2; exit 1; }

project="$work/project"
cp -r "$root/test-consumer" "$project"
cp "$project/consumer.ts" "$project/consumer.cts"
cd "$project"
npm install --no-audit --no-fund --no-package-lock --prefer-offline --loglevel=error \
  "$tarball" typescript@5.9 fast-check@4

node esm.mjs
node cjs.cjs
npx --no-install tsc -p tsconfig.node16.json
echo "types ok: moduleResolution node16 (ESM and CJS)"
npx --no-install tsc -p tsconfig.bundler.json
echo "types ok: moduleResolution bundler"
