/**
 * 5. Memory: bytes per segment of a table without alternates, vs an array of plain entry
 * objects holding the same entries. Measured in a child process (`bench/memory.ts`, run with
 * `--expose-gc`). Target: at most 24 bytes per segment.
 */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, result, type BenchOptions, type Result, type Workload } from '../lib.js';

const here = dirname(fileURLToPath(import.meta.url));

export const memoryWorkload: Workload = {
  name: 'memory',
  title: 'bytes per segment of a table without alternates vs plain entry objects',
  run(o: BenchOptions): Result[] {
    const rounds = Math.min(o.rounds, 5);
    const text = execFileSync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', join(here, '..', 'memory.ts'), String(o.segments), String(rounds), String(o.seed)],
      { cwd: join(here, '..', '..'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 },
    );
    const m = JSON.parse(text.trim().split('\n').pop()!) as { table: number[]; plain: number[] };
    return [
      result(
        {
          name: 'memory',
          unit: 'bytes/segment',
          value: median(m.table),
          baseline: 'array of plain entry objects',
          baselineValue: median(m.plain),
          ratio: median(m.plain.map((p, i) => p / m.table[i]!)),
        },
        { direction: 'atMost', bound: 24, ratioIs: 'bytes/segment', on: 'value' },
      ),
    ];
  },
};
