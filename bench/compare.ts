/**
 * Translation (or binary table decoding) of several checkouts of vdisk-map in one process,
 * alternating, in CPU time: the way to tell two versions apart on a busy machine, where single
 * runs of `npm run bench` move by ±15% or more.
 *
 *   npx tsx bench/compare.ts [--rounds N] [--quick] WORKLOAD DIR...
 *
 * WORKLOAD is `translate`, `translate-into`, `translate-into-plain` or `decode-binary` (the
 * subject `decodeTableBinary` of the big table, the baseline `decodeTable` of its document built
 * untimed before each baseline round, reported as a speedup); each DIR is a checkout
 * (a git worktree of an older commit, say) with its own node_modules. Each checkout builds its
 * own table and requests with its own bench/lib.ts and the standard seed, and each round times
 * every checkout's subject and then its raw baseline (`process.cpuUsage`, user + system), the
 * checkouts in turn, in reverse order every other round. The report is the median of each
 * checkout's per-round ratios to its baseline, then every round's ratio.
 */
const usage = (why: string): never => {
  process.stderr.write(`${why}\nusage: npx tsx bench/compare.ts [--rounds N] [--quick] translate|translate-into|translate-into-plain|decode-binary DIR...\n`);
  process.exit(2);
};

const args = process.argv.slice(2);
let rounds = 9;
let quick = false;
const words: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--rounds') rounds = Number(args[++i]);
  else if (args[i] === '--quick') quick = true;
  else words.push(args[i]!);
}
const [workload, ...dirs] = words;
if (!Number.isSafeInteger(rounds) || rounds < 1) usage(`--rounds must be a positive integer`);
if (workload !== 'translate' && workload !== 'translate-into' && workload !== 'translate-into-plain' && workload !== 'decode-binary')
  usage(`unknown workload ${workload}`);
if (dirs.length === 0) usage('no checkout given');

const options = { quick, segments: quick ? 1 << 16 : 1 << 20, rounds, seed: 20240601, log: (): void => {} };

const cpuMicros = (f: () => unknown): number => {
  const before = process.cpuUsage();
  f();
  const used = process.cpuUsage(before);
  return used.user + used.system;
};

interface Contender {
  readonly dir: string;
  readonly subject: () => void;
  readonly baseline: () => void;
  /** Untimed work before each baseline round (building its input). */
  readonly prepare?: () => void;
}

// Each checkout's modules are loaded by path, and their types may differ from this checkout's.
const contender = async (dir: string): Promise<Contender> => {
  const lib: any = await import(`${dir}/bench/lib.ts`);
  if (workload === 'decode-binary') return decodeContender(dir, lib);
  let requests = lib.translationRequests(options);
  let raw = lib.benchRawTable(options);
  const rawBuf = new lib.RawBuffer();
  if (workload === 'translate') {
    const m: any = await import(`${dir}/bench/workloads/translate.ts`);
    return { dir, subject: m.runTranslate(options), baseline: () => lib.runRaw(raw, requests, rawBuf) };
  }
  const t: any = await import(`${dir}/src/translate/translate.ts`);
  let table = lib.benchTable(options);
  if (workload === 'translate-into-plain') {
    const plain: any = await import(`${dir}/bench/workloads/translate-into-plain.ts`);
    const ds = lib.generateDataset(options.segments, options.seed, plain.NO_ALTERNATES);
    table = lib.libraryTable(ds);
    raw = lib.rawTable(ds);
    requests = plain.oneSegmentRequests(quick ? 50_000 : 500_000, options.segments, options.seed + 2);
  }
  const buf = new t.PieceBuffer(64);
  // Each checkout gets a loop compiled from its own source text. Closures made from one function
  // literal share V8's feedback: a loop written here once would see every checkout's
  // translateInto at one call site, inline none of them, and make all checkouts look alike.
  const loop = new Function(
    'translateInto',
    'table',
    'rq',
    'buf',
    'consume',
    `return () => {
      let acc = 0;
      for (let i = 0; i < rq.count; i++) acc += translateInto(table, rq.op[i] === 1 ? 'write' : 'read', rq.start[i], rq.length[i], buf) + buf.count;
      consume(acc);
    };`,
  );
  return { dir, subject: loop(t.translateInto, table, requests, buf, lib.consume), baseline: () => lib.runRaw(raw, requests, rawBuf) };
};

const decodeContender = async (dir: string, lib: any): Promise<Contender> => {
  const binary: any = await import(`${dir}/src/table/binary-codec.ts`);
  const json: any = await import(`${dir}/src/table/codec.ts`);
  const table = lib.benchTable(options);
  const bytes = binary.encodeTableBinary(table);
  let doc: unknown = null;
  const right = (e: any): void => {
    if (e._tag !== 'Right') throw new Error(`${dir}: decoding failed`);
  };
  return {
    dir,
    subject: () => right(binary.decodeTableBinary(bytes)),
    prepare: () => {
      doc = json.encodeTable(table);
    },
    baseline: () => {
      right(json.decodeTable(doc));
      doc = null; // not live during the next rounds' collections
    },
  };
};

const main = async (): Promise<void> => {
  const contenders: Contender[] = [];
  for (const dir of dirs) contenders.push(await contender(dir));
  const ratios: number[][] = contenders.map(() => []);
  for (const c of contenders) {
    c.subject(); // warm-up, as in bench/lib.ts interleave
    c.prepare?.();
    c.baseline();
  }
  for (let r = 0; r < rounds; r++) {
    const order = contenders.map((_, i) => (r % 2 === 0 ? i : contenders.length - 1 - i));
    for (const i of order) {
      const subject = cpuMicros(contenders[i]!.subject);
      contenders[i]!.prepare?.();
      const baseline = cpuMicros(contenders[i]!.baseline);
      ratios[i]!.push(workload === 'decode-binary' ? baseline / subject : subject / baseline);
    }
  }
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 === 1 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  for (let i = 0; i < contenders.length; i++)
    console.log(
      `${workload} ${contenders[i]!.dir}: median ${median(ratios[i]!).toFixed(2)}x ${workload === 'decode-binary' ? 'faster than decodeTable' : 'raw'} (rounds: ${ratios[i]!.map((x) => x.toFixed(2)).join(' ')})`,
    );
};

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
