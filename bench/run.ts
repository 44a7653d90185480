/**
 * vdisk-map benchmarks.
 *
 *   npm run bench                          full run (about 1,048,576-segment tables; minutes)
 *   npm run bench -- --quick               smoke test: small sizes, a few seconds (CI)
 *   npm run bench -- --json FILE           also write the results as a JSON array
 *   npm run bench -- translate controller  only these workloads (a word that is not exactly a
 *                                          name picks every workload whose name contains it)
 *
 * Options: --quick, --json FILE, --rounds N (default 7; 3 with --quick), --segments N,
 * --seed N, --list. The report goes to stdout, progress to stderr. The exit code is 0 even when
 * a target is missed (the report says which); it is non-zero only when a benchmark could not run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, now, type BenchOptions, type Result, type Workload } from './lib.js';
import { bitmapRunsWorkload } from './workloads/bitmap-runs.js';
import { changedBlocksWorkload } from './workloads/changed-blocks.js';
import { controllerWorkload } from './workloads/controller.js';
import { decodeBinaryWorkload } from './workloads/decode-binary.js';
import { decodeJsonWorkload } from './workloads/decode-json.js';
import { faultStormWorkload } from './workloads/fault-storm.js';
import { memoryWorkload } from './workloads/memory.js';
import { restoreUnsettledWorkload } from './workloads/restore-unsettled.js';
import { setEntryWorkload } from './workloads/set-entry.js';
import { snapshotWorkload } from './workloads/snapshot.js';
import { translateIntoPlainWorkload } from './workloads/translate-into-plain.js';
import { translateIntoWorkload } from './workloads/translate-into.js';
import { translateNaiveLargeWorkload } from './workloads/translate-naive-large.js';
import { translateNaiveWorkload } from './workloads/translate-naive.js';
import { translateWorkload } from './workloads/translate.js';
import { translateVariableWorkload } from './workloads/translate-variable.js';

export const workloads: ReadonlyArray<Workload> = [
  translateIntoWorkload,
  translateIntoPlainWorkload,
  translateWorkload,
  translateVariableWorkload,
  translateNaiveWorkload,
  translateNaiveLargeWorkload,
  setEntryWorkload,
  memoryWorkload,
  bitmapRunsWorkload,
  controllerWorkload,
  faultStormWorkload,
  restoreUnsettledWorkload,
  snapshotWorkload,
  decodeJsonWorkload,
  changedBlocksWorkload,
  decodeBinaryWorkload,
];

interface Cli {
  quick: boolean;
  json: string | null;
  rounds: number | null;
  segments: number | null;
  seed: number;
  list: boolean;
  filters: string[];
  /** Internal: run only this workload, in this process, and write its results to `childOut`. */
  child: string | null;
  childOut: string | null;
}

const usage = (why: string): never => {
  process.stderr.write(`${why}\nusage: tsx bench/run.ts [--quick] [--json FILE] [--rounds N] [--segments N] [--seed N] [--list] [name...]\n`);
  process.exit(2);
};

const positiveInt = (flag: string, text: string | undefined): number => {
  const n = Number(text);
  return Number.isSafeInteger(n) && n > 0 ? n : usage(`${flag} needs a positive integer, got ${text}`);
};

const parseArgs = (argv: ReadonlyArray<string>): Cli => {
  const cli: Cli = { quick: false, json: null, rounds: null, segments: null, seed: 20240601, list: false, filters: [], child: null, childOut: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') cli.quick = true;
    else if (a === '--list') cli.list = true;
    else if (a === '--json') cli.json = argv[++i] ?? usage('--json needs a file name');
    else if (a === '--rounds') cli.rounds = positiveInt(a, argv[++i]);
    else if (a === '--segments') cli.segments = positiveInt(a, argv[++i]);
    else if (a === '--seed') cli.seed = positiveInt(a, argv[++i]);
    else if (a === '--child') cli.child = argv[++i] ?? usage('--child needs a workload name');
    else if (a === '--child-out') cli.childOut = argv[++i] ?? usage('--child-out needs a file name');
    else if (a === '--help' || a === '-h') usage('vdisk-map benchmarks');
    else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else cli.filters.push(a);
  }
  return cli;
};

/** The report: one aligned row per result. */
export const formatReport = (results: ReadonlyArray<Result>): string => {
  const rows = [
    ['benchmark', 'unit', 'value', 'baseline', 'baseline value', 'ratio', 'target', 'pass'],
    ...results.map((r) => [
      r.name,
      r.unit,
      fmt(r.value),
      r.baseline,
      fmt(r.baselineValue),
      `${fmt(r.ratio)}x`,
      r.target ?? '(reported only)',
      r.pass === null ? '-' : r.pass ? 'yes' : 'NO',
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const numeric = new Set([2, 4, 5]);
  const line = (r: string[]) => r.map((cell, c) => (numeric.has(c) ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ').trimEnd();
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
};

const main = async (): Promise<void> => {
  const cli = parseArgs(process.argv.slice(2));
  if (cli.list) {
    for (const w of workloads) process.stdout.write(`${w.name.padEnd(16)} ${w.title}\n`);
    return;
  }
  // A word that is exactly a workload's name picks that one; any other word, every name containing it.
  const picks = (f: string, w: Workload): boolean => (workloads.some((x) => x.name === f) ? w.name === f : w.name.includes(f));
  const chosen = cli.filters.length === 0 ? workloads : workloads.filter((w) => cli.filters.some((f) => picks(f, w)));
  if (chosen.length === 0) usage(`no workload matches ${cli.filters.join(' ')} (try --list)`);
  const options: BenchOptions = {
    quick: cli.quick,
    segments: cli.segments ?? (cli.quick ? 65_536 : 1_048_576),
    rounds: cli.rounds ?? (cli.quick ? 3 : 7),
    seed: cli.seed,
    log: (line) => process.stderr.write(`  ${line}\n`),
  };
  process.stderr.write(
    `vdisk-map bench: ${cli.quick ? 'quick' : 'full'}, ${options.segments.toLocaleString('en-US')} segments, ${options.rounds} rounds, seed ${options.seed}, node ${process.version}\n`,
  );
  // Other processes on the machine change the figures (allocation-heavy code most: V8's parallel
  // GC helpers compete for the same cores), so the report says how busy the machine was.
  const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ');
  const loadBefore = load();
  if (cli.child !== null) {
    const w = workloads.find((x) => x.name === cli.child) ?? usage(`no workload ${cli.child}`);
    writeFileSync(cli.childOut ?? usage('--child needs --child-out'), JSON.stringify(await w.run(options)));
    return;
  }
  const results: Result[] = [];
  const t0 = now();
  const dir = mkdtempSync(join(tmpdir(), 'vdisk-map-bench-'));
  for (const w of chosen) {
    // Each workload runs in a fresh process (subject and baseline still share it, interleaved),
    // so that none is measured on a heap, allocator or JIT state that an earlier one left behind.
    const t = now();
    process.stderr.write(`${w.name}: ${w.title}\n`);
    const out = join(dir, `${w.name}.json`);
    const args = [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2), '--child', w.name, '--child-out', out];
    const run = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    if (run.status !== 0) throw new Error(`workload ${w.name} failed (exit ${run.status ?? run.signal})`);
    const rs = JSON.parse(readFileSync(out, 'utf8')) as Result[];
    results.push(...rs);
    for (const r of rs) process.stderr.write(`  ${r.name}: ${fmt(r.value)} ${r.unit} vs ${fmt(r.baselineValue)}, ratio ${fmt(r.ratio)}x${r.pass === false ? ' (target missed)' : ''}\n`);
    process.stderr.write(`  (${((now() - t) / 1000).toFixed(1)} s)\n`);
  }
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(`\n${formatReport(results)}\n`);
  const failed = results.filter((r) => r.pass === false);
  process.stdout.write(`\n${results.filter((r) => r.pass === true).length} of ${results.filter((r) => r.pass !== null).length} targets met in ${((now() - t0) / 1000).toFixed(1)} s.\n`);
  process.stdout.write(`node ${process.version}, ${availableParallelism()} CPUs, load average (1/5/15 min) ${loadBefore} before, ${load()} after.\n`);
  if (failed.length > 0) {
    const note = cli.quick ? ' (quick mode: small sizes, figures are not meaningful; only the full run counts)' : '';
    process.stdout.write(`Targets missed${note}:\n${failed.map((r) => `  - ${r.name}: ratio ${fmt(r.ratio)}x, target ${r.target}`).join('\n')}\n`);
  }
  if (cli.json !== null) {
    writeFileSync(cli.json, `${JSON.stringify(results, null, 2)}\n`);
    process.stderr.write(`wrote ${cli.json}\n`);
  }
};

main().catch((e: unknown) => {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
