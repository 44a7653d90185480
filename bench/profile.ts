/**
 * Summarizes a V8 CPU profile of a benchmark run: self time per function, with positions mapped
 * back to the TypeScript sources.
 *
 *   node --cpu-prof --cpu-prof-dir /tmp/prof --import tsx bench/run.ts translate-into
 *   npx tsx bench/profile.ts /tmp/prof/CPU.*.cpuprofile [--top 30] [--under FUNCTION]
 *
 * tsx compiles each module to a single line and names functions after the fact, so a raw profile
 * shows only `(anonymous) file.ts:1`. The compiled code and its source map are in tsx's cache
 * (`$TMPDIR/tsx-<uid>/`); this reads the newest ESM entry of each source file to map columns
 * back to lines, and names each function by the declaration on (or just above) that line.
 * For line-level figures, profile an esbuild bundle (its `.map` next to it) and pass `--lines`:
 *
 *   npx esbuild bench/run.ts --bundle --platform=node --format=esm --sourcemap --outfile=/tmp/b/run.mjs
 *   node --cpu-prof --cpu-prof-interval 100 --cpu-prof-dir /tmp/prof /tmp/b/run.mjs translate-into && npx tsx bench/profile.ts /tmp/prof/*.cpuprofile --lines
 *
 * `--under NAME` restricts the table to samples whose stack contains a function named NAME, and
 * also prints the inclusive time of every function under it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
  positionTicks?: { line: number; ticks: number }[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
const files: string[] = [];
let top = 30;
let under: string | null = null;
let lines = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i]);
  else if (args[i] === '--under') under = args[++i] ?? null;
  else if (args[i] === '--lines') lines = true;
  else files.push(args[i]!);
}
if (files.length === 0) {
  process.stderr.write('usage: tsx bench/profile.ts FILE.cpuprofile... [--top N] [--under FUNCTION]\n');
  process.exit(2);
}

// ---- tsx cache: source path -> (source map, source lines) ----------------------------------

const cacheDirs = readdirSync(tmpdir())
  .filter((d) => d.startsWith('tsx-'))
  .map((d) => join(tmpdir(), d));
const maps = new Map<string, { map: SourceMap; mtime: number }>();
for (const dir of cacheDirs) {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    continue;
  }
  for (const name of names) {
    const path = join(dir, name);
    let entry: { code?: string; map?: { sources?: string[] } };
    try {
      entry = JSON.parse(readFileSync(path, 'utf8')) as typeof entry;
    } catch {
      continue;
    }
    const source = entry.map?.sources?.[0];
    if (source === undefined || entry.code === undefined || entry.code.startsWith('__filename=')) continue; // CJS variant
    const mtime = statSync(path).mtimeMs;
    const known = maps.get(source);
    if (known === undefined || known.mtime < mtime) maps.set(source, { map: new SourceMap(entry.map as never), mtime });
  }
}

/** Source maps of bundles (`x.mjs.map` next to `x.mjs`), for profiles of an esbuild bundle. */
const bundleMaps = new Map<string, SourceMap | null>();
const bundleMap = (path: string): SourceMap | null => {
  if (!bundleMaps.has(path)) {
    try {
      bundleMaps.set(path, new SourceMap(JSON.parse(readFileSync(`${path}.map`, 'utf8')) as never));
    } catch {
      bundleMaps.set(path, null);
    }
  }
  return bundleMaps.get(path)!;
};

const sources = new Map<string, string[]>();
const sourceLines = (path: string): string[] => {
  let lines = sources.get(path);
  if (lines === undefined) {
    try {
      lines = readFileSync(path, 'utf8').split('\n');
    } catch {
      lines = [];
    }
    sources.set(path, lines);
  }
  return lines;
};

const DECL = /(?:function\*?\s+([A-Za-z_$][\w$]*)|(?:const|let)\s+([A-Za-z_$][\w$]*)\s*=|^\s*(?:static\s+|private\s+|public\s+)?([A-Za-z_$][\w$]*)\s*\([^)]*\)\s*(?::[^{]*)?\{)/;

const shorten = (path: string): string => path.replace(/^.*\/(src|bench|node_modules)\//, '$1/');

/** Full `file:line` of a line (0-based) of a bundle, through its source map. */
const bundleSourceLine = (path: string, line: number): string | null => {
  const m = bundleMap(path);
  if (m === null) return null;
  const hit = m.findEntry(line, 0) as { originalSource?: string; originalLine?: number };
  if (hit.originalSource === undefined || hit.originalLine === undefined) return null;
  const source = hit.originalSource.startsWith('file://') ? fileURLToPath(hit.originalSource) : resolve(dirname(path), hit.originalSource);
  return `${source}:${hit.originalLine + 1}`;
};

const bundleLine = (path: string, line: number): string | null => {
  const full = bundleSourceLine(path, line);
  return full === null ? null : shorten(full);
};

/** A readable name for a frame: `name file:line`. */
const label = (cf: CallFrame): string => {
  if (!cf.url.startsWith('file://')) return `${cf.functionName || '(anonymous)'} ${cf.url || '(native)'}`;
  const path = fileURLToPath(cf.url);
  if (bundleMap(path) !== null) return `${cf.functionName || '(anonymous)'} ${bundleLine(path, cf.lineNumber) ?? shorten(path)}`;
  const short = path.replace(/^.*\/(src|bench|node_modules)\//, '$1/');
  const m = maps.get(path);
  if (m === undefined || cf.lineNumber !== 0) return `${cf.functionName || '(anonymous)'} ${short}:${cf.lineNumber + 1}`;
  const hit = m.map.findEntry(cf.lineNumber, cf.columnNumber) as { originalLine?: number };
  if (hit.originalLine === undefined) return `${cf.functionName || '(anonymous)'} ${short}`;
  const lines = sourceLines(path);
  let name = cf.functionName;
  for (let l = hit.originalLine; l >= Math.max(0, hit.originalLine - 3) && name === ''; l--) {
    const d = DECL.exec(lines[l] ?? '');
    if (d !== null) name = d[1] ?? d[2] ?? d[3] ?? '';
  }
  return `${name || '(anonymous)'} ${short}:${hit.originalLine + 1}`;
};

// ---- self and inclusive time --------------------------------------------------------------

const self = new Map<string, number>();
/** Self ticks per source line (bundles only: tsx puts each module on one line). */
const lineTicks = new Map<string, number>();
let tickCount = 0;
const inclusive = new Map<string, number>();
let total = 0;
let selected = 0;
for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const labels = new Map<number, string>();
  const labelOf = (id: number): string => {
    let l = labels.get(id);
    if (l === undefined) labels.set(id, (l = label(byId.get(id)!.callFrame)));
    return l;
  };
  const counted = new Set<number>();
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    const stack: string[] = [];
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) stack.push(labelOf(n));
    if (under !== null && !stack.some((l) => l.split(' ')[0] === under)) return;
    selected += dt;
    const node = byId.get(id)!;
    if (lines && !counted.has(id) && node.positionTicks !== undefined && node.callFrame.url.startsWith('file://')) {
      counted.add(id);
      for (const t of node.positionTicks) {
        const where = bundleSourceLine(fileURLToPath(node.callFrame.url), t.line - 1) ?? `${fileURLToPath(node.callFrame.url)}:${t.line}`;
        lineTicks.set(where, (lineTicks.get(where) ?? 0) + t.ticks);
        tickCount += t.ticks;
      }
    }
    self.set(stack[0]!, (self.get(stack[0]!) ?? 0) + dt);
    for (const l of new Set(stack)) inclusive.set(l, (inclusive.get(l) ?? 0) + dt);
  });
}

const show = (title: string, m: Map<string, number>): void => {
  process.stdout.write(`\n${title}\n`);
  for (const [k, t] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
    process.stdout.write(`${(t / 1000).toFixed(0).padStart(8)} ms ${((100 * t) / (selected || 1)).toFixed(1).padStart(5)}%  ${k}\n`);
};

process.stdout.write(`profile: ${(total / 1000).toFixed(0)} ms sampled${under === null ? '' : `, ${(selected / 1000).toFixed(0)} ms under ${under}`}\n`);
show('self time', self);
if (under !== null) show(`inclusive time under ${under}`, inclusive);
if (lines) {
  process.stdout.write(`\nself ticks by source line (${tickCount} ticks)\n`);
  for (const [k, t] of [...lineTicks].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    const [file, line] = [k.slice(0, k.lastIndexOf(':')), Number(k.slice(k.lastIndexOf(':') + 1))];
    const text = sourceLines(file)[line - 1]?.trim().slice(0, 100) ?? '';
    process.stdout.write(`${String(t).padStart(7)} ${((100 * t) / (tickCount || 1)).toFixed(1).padStart(5)}%  ${shorten(k).padEnd(36)} ${text}\n`);
  }
}
