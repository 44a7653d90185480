// Tree-shaking check: bundle a consumer that imports only `translate` and `createTable` from the
// ESM build (dist/index.js), with its dependency (fp-ts), minified, as a consumer's
// bundler would. Fails if any source file outside the table, translation, bitmap and checking
// modules contributes code to the bundle (the controller, agent, runtimes, adapters, simulator
// and test kit must all fall away), or if fast-check is bundled; prints the bundle's size.
//
//   npm run build && node scripts/treeshake-check.mjs [--json]
//
// How code is traced back to sources: the dist files carry source maps, and esbuild chains an
// input's source map into the output's. The output map's `sources` lists every file of every
// chunk it read, so the check decodes the mappings and keeps only the sources that some byte of
// the bundle maps to.
import { build } from 'esbuild';
import { existsSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'dist', 'index.js');
if (!existsSync(entry)) {
  console.error('treeshake-check: dist/index.js is missing; run `npm run build` first');
  process.exit(1);
}

const result = await build({
  stdin: {
    contents: `import { createTable, translate } from ${JSON.stringify(entry)};\n` + 'export const demo = (spec, request) => translate(createTable(spec).right, request);\n',
    resolveDir: root,
    sourcefile: 'consumer.js',
    loader: 'js',
  },
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  mainFields: ['module', 'main'],
  target: 'es2022',
  minify: true,
  treeShaking: true,
  sourcemap: 'external',
  metafile: true,
  write: false,
  outfile: join(root, 'treeshake-out.js'),
  logLevel: 'warning',
});

const js = result.outputFiles.find((f) => f.path.endsWith('.js'));
const map = JSON.parse(result.outputFiles.find((f) => f.path.endsWith('.map')).text);
const allSources = map.sources.map((s) => relative(root, join(root, s)).split(sep).join('/'));
const used = mappedSources(map.mappings);
const sources = allSources.filter((_, i) => used.has(i));
const inputs = Object.keys(result.metafile.inputs).map((s) => s.split(sep).join('/'));

// What a consumer of tables and translation may pull in: nothing that runs a protocol.
const ALLOWED = /^src\/(errors\.ts|bitmap\/|table\/|translate\/|check\/)/;
const forbidden = (path) =>
  (path.startsWith('src/') && !ALLOWED.test(path)) || /(^|\/)node_modules\/fast-check\//.test(path) || /(^|\/)dist\/(sim|testing)\.js$/.test(path);
const bad = [...new Set([...sources, ...inputs.filter((p) => !p.startsWith('src/'))].filter(forbidden))];
if (!sources.some((s) => s.startsWith('src/'))) {
  console.error('treeshake-check: the bundle source map names no src/ file; are dist/*.js.map missing? Cannot verify.');
  process.exit(1);
}

const bytes = js.contents.length;
const gzip = gzipSync(js.contents, { level: 9 }).length;
// vdisk-map's own share: dist inputs, as esbuild counts them in the (minified) output.
const output = Object.entries(result.metafile.outputs).find(([path]) => path.endsWith('.js'))[1];
let own = 0;
const deps = {};
for (const [path, info] of Object.entries(output.inputs)) {
  const p = path.split(sep).join('/');
  const dep = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(p)?.[1];
  if (dep) deps[dep] = (deps[dep] ?? 0) + info.bytesInOutput;
  else if (/(^|\/)dist\//.test(p)) own += info.bytesInOutput;
}
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
const report = { bytes, gzip, ownBytes: own, dependencyBytes: deps, srcFiles: sources.filter((s) => s.startsWith('src/')) };
if (process.argv.includes('--json')) console.log(JSON.stringify(report, null, 2));
else {
  console.log(`tree-shaken bundle of { createTable, translate }: ${bytes} bytes minified (${kb(bytes)}), ${gzip} bytes gzipped (${kb(gzip)})`);
  console.log(`  vdisk-map's own code: ${own} bytes; dependencies: ${Object.entries(deps).map(([d, n]) => `${d} ${n} bytes`).join(', ') || 'none'}`);
  console.log(`  from ${report.srcFiles.length} source files: ${report.srcFiles.join(', ')}`);
  if (bad.length === 0) console.log('  (nothing from the controller, agent, runtimes, adapters, simulator, test kit or fast-check)');
}
if (bad.length > 0) {
  process.exitCode = 1;
  console.error(`treeshake-check: FAILED, the bundle pulls in:\n  ${bad.join('\n  ')}`);
  process.exit(1);
}

/** Indices of the sources that at least one mapping segment of a source map v3 points into. */
function mappedSources(mappings) {
  const used = new Set();
  let source = 0;
  for (const line of mappings.split(';'))
    for (const segment of line.split(',')) {
      if (segment === '') continue;
      const fields = decodeVlq(segment);
      if (fields.length >= 4) used.add((source += fields[1]));
    }
  return used;
}

function decodeVlq(text) {
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const out = [];
  let value = 0;
  let shift = 0;
  for (const ch of text) {
    const digit = B64.indexOf(ch);
    value += (digit & 31) << shift;
    if (digit & 32) shift += 5;
    else {
      out.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return out;
}
