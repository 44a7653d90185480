// Every type declared in a hash-named declaration chunk of dist/ must be exported by name from
// an entry point (index, sim, testing): users must never need a chunk's name to reach a type.
// Run after `npm run build`: node scripts/check-dts-names.mjs
import { readdirSync, readFileSync } from 'node:fs';

const dir = new URL('../dist/', import.meta.url);
const read = (f) => readFileSync(new URL(f, dir), 'utf8');
const files = readdirSync(dir);
const publicNames = new Set();
for (const entry of ['index.d.ts', 'sim.d.ts', 'testing.d.ts']) {
  const text = read(entry);
  for (const m of text.matchAll(/export (?:type )?\{([^}]*)\}/g))
    for (const part of m[1].split(',')) if (part.trim()) publicNames.add(part.trim().split(' as ').pop().replace('type ', '').trim());
  for (const m of text.matchAll(/^(?:export )?(?:declare )?(?:interface|type|const|function|class) (\w+)/gm)) publicNames.add(m[1]);
}
let missing = 0;
for (const chunk of files.filter((f) => /-[A-Za-z0-9_]{8}\.d\.c?ts$/.test(f))) {
  for (const m of read(chunk).matchAll(/^(?:declare )?(?:interface|type) (\w+)/gm)) {
    if (publicNames.has(m[1])) continue;
    console.error(`${chunk}: type ${m[1]} is reachable only through this chunk`);
    missing++;
  }
}
if (missing > 0) process.exit(1);
console.log('every declared type has a public name');
