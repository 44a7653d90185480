// Lists every exported name of the three entry points (and of the `bitmap` namespace) whose doc
// comment is missing or has no @example, from TypeDoc's JSON output (typedoc.json writes
// docs/api/api.json). TypeDoc's own `validation.notDocumented` already warns about missing
// comments; this adds the @example requirement, which TypeDoc cannot check by itself.
//
//   npm run docs                                  (runs TypeDoc, then this script: warnings only)
//   node scripts/check-doc-examples.mjs --strict  (exit 1 if anything is listed)
//   node scripts/check-doc-examples.mjs --json    (the lists as JSON)
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const file = join(root, 'docs', 'api', 'api.json');
let project;
try {
  project = JSON.parse(readFileSync(file, 'utf8'));
} catch {
  console.error(`check-doc-examples: cannot read ${file}; run \`npx typedoc\` first`);
  process.exit(1);
}

// TypeDoc's ReflectionKind values.
const KIND = { Module: 2, Namespace: 4, Enum: 8, Variable: 32, Function: 64, Class: 128, Interface: 256, TypeAlias: 2097152, Reference: 4194304 };
const KIND_NAME = Object.fromEntries(Object.entries(KIND).map(([k, v]) => [v, k]));
const TYPE_KINDS = new Set([KIND.Interface, KIND.TypeAlias]);

// A declaration's comment; functions carry theirs on the signatures.
const comments = (d) => [d.comment, ...(d.signatures ?? []).map((s) => s.comment)].filter(Boolean);
const hasText = (c) => (c.summary ?? []).some((p) => p.text.trim() !== '') || (c.blockTags ?? []).length > 0;
const hasExample = (c) => (c.blockTags ?? []).some((t) => t.tag === '@example');

const missingDoc = [];
const missingExample = [];
const visit = (decl, prefix) => {
  if (decl.kind === KIND.Reference) return; // a re-export; its target is checked where it is declared
  const name = `${prefix}${decl.name}`;
  const cs = comments(decl);
  const entry = { name, kind: KIND_NAME[decl.kind] ?? String(decl.kind), type: TYPE_KINDS.has(decl.kind) };
  if (!cs.some(hasText)) missingDoc.push(entry);
  else if (!cs.some(hasExample)) missingExample.push(entry);
  if (decl.kind === KIND.Namespace) for (const child of decl.children ?? []) visit(child, `${name}.`);
};
for (const mod of project.children ?? []) {
  const modName = mod.name === 'index' ? 'vdisk-map' : `vdisk-map/${mod.name}`;
  for (const decl of mod.children ?? []) visit(decl, `${modName}: `);
}

if (process.argv.includes('--json')) {
  console.log(JSON.stringify({ missingDoc, missingExample }, null, 2));
} else {
  const show = (title, list) => {
    if (list.length === 0) return;
    console.warn(`[warning] ${list.length} exported names ${title}:`);
    for (const group of [false, true]) {
      const names = list.filter((e) => e.type === group);
      if (names.length > 0) console.warn(`  ${group ? 'types' : 'values'} (${names.length}): ${names.map((e) => e.name).join(', ')}`);
    }
  };
  show('without a doc comment', missingDoc);
  show('whose doc comment has no @example', missingExample);
  if (missingDoc.length + missingExample.length === 0) console.log('check-doc-examples: every exported name has a doc comment with an @example');
}
if (process.argv.includes('--strict') && missingDoc.length + missingExample.length > 0) process.exit(1);
