/** Replays one run of bench/hostops-sweep.ts with its trace: tsx bench/hostops-trace.ts SEED VARIANT PATTERN [--power] [--ios N]. */
import { createCluster } from '../src/sim/cluster.js';
import { sweepConfig, sweepWorkload } from './hostops-sweep-shape.js';

const [seed, variant, pattern] = process.argv.slice(2);
const power = process.argv.includes('--power');
const at = process.argv.indexOf('--ios');
const ios = at < 0 ? undefined : Number(process.argv[at + 1]);
const result = createCluster({ ...sweepConfig(Number(seed), variant as 'centralized' | 'distributed'), trace: true }).run(sweepWorkload(Number(seed), pattern as 'random', power, ios));
for (const r of result.trace) console.log(`${r.time} ${r.from} -> ${r.to}: ${r.label}${r.step === undefined ? '' : ` [${r.step}]`}`);
console.log(JSON.stringify(result.violation));
