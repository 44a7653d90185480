import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', sim: 'src/sim.ts', testing: 'src/testing.ts' },
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  treeshake: true,
  target: 'es2022',
  external: ['fast-check'],
});
