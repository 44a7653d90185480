/**
 * Replays one run of bench/hostops-sweep.ts with its trace, then prints its violation (null when
 * none). Give it the flags the sweep was run with:
 *
 *   tsx bench/hostops-trace.ts SEED VARIANT PATTERN [--power] [--ios N] [--zero RATIO]
 */
import { createCluster } from '../src/sim/cluster.js';
import { sweepConfig, sweepWorkload } from './hostops-sweep-shape.js';

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
};
const [seed, variant, pattern] = process.argv.slice(2);
const power = process.argv.includes('--power');
const ios = arg('ios') === undefined ? undefined : Number(arg('ios'));
const zero = arg('zero') === undefined ? undefined : Number(arg('zero'));
const result = createCluster({ ...sweepConfig(Number(seed), variant as 'centralized' | 'distributed'), trace: true }).run(sweepWorkload(Number(seed), pattern as 'random', power, ios, zero));
for (const r of result.trace) console.log(`${r.time} ${r.from} -> ${r.to}: ${r.label}${r.step === undefined ? '' : ` [${r.step}]`}`);
console.log(JSON.stringify(result.violation));
