// Tree-shaking check: bundle a consumer that imports only `translate` and `createTable` from the
// ESM build (dist/index.js), with its dependency (fp-ts), minified, as a consumer's
// bundler would. Fails if anything from src/sim/, src/testing/ or fast-check ends up in the
// bundle, and prints the bundle's size.
//
//   npm run build && node scripts/treeshake-check.mjs [--json]
//
// How inputs are traced back to sources: the dist files carry source maps, and esbuild chains an
// input's source map into the output's, so the bundle's source map lists the original src/ files
// that contributed code (and the node_modules files, which have no maps of their own).
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
const sources = map.sources.map((s) => relative(root, join(root, s)).split(sep).join('/'));
const inputs = Object.keys(result.metafile.inputs).map((s) => s.split(sep).join('/'));

const forbidden = (path) => /(^|\/)src\/(sim|testing)(\/|\.ts$)/.test(path) || /(^|\/)node_modules\/fast-check\//.test(path) || /(^|\/)dist\/(sim|testing)\.js$/.test(path);
const bad = [...new Set([...sources, ...inputs].filter(forbidden))];
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
  if (bad.length === 0) console.log("  (no input from src/sim/, src/testing/ or fast-check)");
}
if (bad.length > 0) {
  process.exitCode = 1;
  console.error(`treeshake-check: FAILED, the bundle pulls in:\n  ${bad.join('\n  ')}`);
  process.exit(1);
}
