import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', sim: 'src/sim.ts', testing: 'src/testing.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  treeshake: true,
  // One shared copy of the library behind every entry, in CommonJS too: otherwise each entry
  // carries its own classes and `instanceof` fails across entries.
  splitting: true,
  target: 'es2022',
  external: ['fast-check'],
});
