import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TraceRecord } from '../../src/sim/config.js';
import { escapeMermaidText, traceParticipants, traceToMermaid, traceToTimeline } from '../../src/sim/trace.js';
import type { Step } from '../../src/protocol/messages.js';

/** A zero fault resolved through 570, 575 and 595, by hand. */
const small: TraceRecord[] = [
  { time: 100, from: 'host', to: 'a0', label: 'write vd1 2+4 (value 1) io1' },
  { time: 105, from: 'a0', to: 'controller', label: 'ioFault #2 write seg 0 (zero) g0' },
  { time: 105, from: 'controller', to: 'persistence', label: 'persist vd1 g0->g1', step: 570 },
  { time: 109, from: 'controller', to: 'a0', label: 'send setEntries', step: 575 },
  { time: 112, from: 'a0', to: 'controller', label: 'tableAck vd1 g1' },
  { time: 112, from: 'controller', to: 'a0', label: 'send retry', step: 595 },
  { time: 115, from: 'a0', to: 'storage', label: 'io1 write alternate 2+4@1:2' },
  { time: 1000, from: 'a0', to: 'host', label: 'io1 write done' },
];

describe('traceToMermaid', () => {
  it('renders a small trace exactly', () => {
    expect(traceToMermaid(small, { title: 'zero fault' })).toBe(
      [
        'sequenceDiagram',
        '  title zero fault',
        '  participant host',
        '  participant a0',
        '  participant controller',
        '  participant persistence',
        '  participant storage',
        '  host->>a0: write vd1 2+4 (value 1) io1',
        '  a0->>controller: ioFault #35;2 write seg 0 (zero) g0',
        '  controller->>persistence: [570] persist vd1 g0->g1',
        '  controller->>a0: [575] send setEntries',
        '  a0->>controller: tableAck vd1 g1',
        '  controller->>a0: [595] send retry',
        '  a0->>storage: io1 write alternate 2+4@1:2',
        '  a0->>host: io1 write done',
      ].join('\n'),
    );
  });

  it('declares host, agents by number, controller, persistence, storage, then the others in order', () => {
    const trace: TraceRecord[] = [
      { time: 0, from: 'sim', to: 'a10', label: 'restart' },
      { time: 0, from: 'storage', to: 'a2', label: 'x' },
      { time: 0, from: 'admin', to: 'controller', label: 'snapshot' },
      { time: 0, from: 'a1', to: 'host', label: 'done' },
    ];
    expect(traceParticipants(trace)).toEqual(['host', 'a1', 'a2', 'a10', 'controller', 'storage', 'admin', 'sim']);
    const declared = traceToMermaid(trace)
      .split('\n')
      .filter((l) => l.startsWith('  participant '))
      .map((l) => l.slice('  participant '.length));
    expect(declared).toEqual(['host', 'a1', 'a2', 'a10', 'controller', 'storage', 'admin', 'sim']);
  });

  it('escapes what Mermaid would read as syntax, and aliases names it cannot take', () => {
    const text = traceToMermaid([{ time: 0, from: 'end', to: 'x y;z', label: 'a;b # 50%\nnext <b>' }], { title: 'a;b' });
    expect(text.split('\n')).toEqual([
      'sequenceDiagram',
      '  title a#59;b',
      '  participant p0 as end',
      '  participant p1 as x y#59;z',
      '  p0->>p1: a#59;b #35; 50#37;<br/>next #lt;b>',
    ]);
    expect(escapeMermaidText('wrap: x')).toBe('wrap#58; x');
    expect(escapeMermaidText('#59;')).toBe('#35;59#59;');
  });

  it('never gives an alias identifier that a participant already has', () => {
    const lines = traceToMermaid([{ time: 0, from: 'p0', to: 'a b', label: 'x' }]).split('\n');
    // 'a b' sorts before 'p0' among the others.
    expect(lines).toEqual(['sequenceDiagram', '  participant p1 as a b', '  participant p0', '  p0->>p1: x']);
  });

  it('cuts at maxRecords with a note, and puts text after every colon', () => {
    const text = traceToMermaid(
      [
        { time: 0, from: 'host', to: 'a0', label: '' },
        { time: 1, from: 'a0', to: 'host', label: 'done' },
        { time: 2, from: 'a0', to: 'storage', label: 'io' },
      ],
      { maxRecords: 1 },
    );
    expect(text.split('\n')).toEqual(['sequenceDiagram', '  participant host', '  participant a0', '  host->>a0: -', '  Note over host,a0: 2 more records not shown']);
    expect(traceToMermaid([])).toBe('sequenceDiagram');
  });
});

describe('traceToTimeline', () => {
  it('renders a small trace exactly', () => {
    expect(traceToTimeline(small)).toBe(
      [
        'time  from          to           step  label',
        ' 100  host       -> a0                 write vd1 2+4 (value 1) io1',
        ' 105  a0         -> controller         ioFault #2 write seg 0 (zero) g0',
        ' 105  controller -> persistence  570   persist vd1 g0->g1',
        ' 109  controller -> a0           575   send setEntries',
        ' 112  a0         -> controller         tableAck vd1 g1',
        ' 112  controller -> a0           595   send retry',
        ' 115  a0         -> storage            io1 write alternate 2+4@1:2',
        '1000  a0         -> host               io1 write done',
      ].join('\n'),
    );
  });

  it('cuts at maxRecords, leaves out the header on request, and keeps each record on one line', () => {
    const trace: TraceRecord[] = [
      { time: 5, from: 'a0', to: 'host', label: 'line one\nline two\tend' },
      { time: 7, from: 'a0', to: 'host', label: '' },
      { time: 9, from: 'a0', to: 'host', label: 'late' },
    ];
    expect(traceToTimeline(trace, { header: false, maxRecords: 2 }).split('\n')).toEqual([
      '5  a0 -> host  line one\\nline two\\tend',
      '7  a0 -> host',
      '... 1 more record not shown',
    ]);
    expect(traceToTimeline([])).toBe('time  from    to  step  label');
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over random traces

const chars = fc.constantFrom('a', 'p', '0', '1', '_', ' ', ';', '#', '%', ':', ',', '-', '>', '<', '\n', 'é', '😀');
const nameArb = fc.oneof(
  fc.constantFrom('host', 'a0', 'a1', 'a2', 'a10', 'controller', 'persistence', 'storage', 'admin', 'sim', 'end', 'Note', 'p0', 'p1'),
  fc.string({ unit: chars, minLength: 1, maxLength: 6 }),
);
const labelArb = fc.string({
  unit: fc.constantFrom('a', 'b', ' ', ';', '#', '%', '%%', '<', '>', ':', '-', '\n', '\r', '\r\n', '\t', 'wrap:', '<br/>', '#59;', 'é', '😀'),
  maxLength: 30,
});
const stepArb = fc.option(fc.constantFrom<Step>(570, 575, 580, 585, 590, 595, 597), { nil: undefined });
const recordArb: fc.Arbitrary<TraceRecord> = fc
  .record({ time: fc.nat(100_000), from: nameArb, to: nameArb, label: labelArb, step: stepArb })
  .map(({ step, ...r }) => (step === undefined ? r : { ...r, step }));
const traceArb = fc.array(recordArb, { maxLength: 40 });

/** The display order, written independently of the implementation. */
const rank = (n: string): [number, number, string] => {
  if (n === 'host') return [0, 0, ''];
  const agent = /^a(\d+)$/.exec(n);
  if (agent !== null) return [1, Number(agent[1]), n];
  const fixed = ['controller', 'persistence', 'storage'].indexOf(n);
  return fixed >= 0 ? [2 + fixed, 0, ''] : [5, 0, n];
};
const byRank = (x: string, y: string): number => {
  const [a, b] = [rank(x), rank(y)];
  return a[0] - b[0] || a[1] - b[1] || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0);
};

/** Undoes the Mermaid escaping (generated `<br/>` first: a `<` of the text is always escaped). */
const unescape = (text: string): string =>
  text.replace(/<br\/>/g, '\n').replace(/#(\d+|lt);/g, (_, code: string) => (code === 'lt' ? '<' : String.fromCodePoint(Number(code))));

const ID = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KEYWORDS = ['end', 'note', 'participant', 'actor', 'as', 'loop', 'alt', 'opt', 'par', 'and', 'else', 'rect', 'box', 'over', 'title', 'critical', 'break'];

describe('trace renderings, for random traces', () => {
  it('the diagram declares each participant once, before any message, and has one message line per record', () => {
    fc.assert(
      fc.property(traceArb, (trace) => {
        const lines = traceToMermaid(trace).split('\n');
        expect(lines[0]).toBe('sequenceDiagram');
        const expectedNames = [...new Set(trace.flatMap((r) => [r.from, r.to]))].sort(byRank);

        // Declarations: in display order, identifiers Mermaid reads as such, aliases that decode to the name.
        const declared = lines.slice(1).filter((l) => l.startsWith('  participant '));
        expect(declared.length).toBe(expectedNames.length);
        const ids = new Map<string, string>();
        declared.forEach((line, i) => {
          const m = /^ {2}participant (\S+)(?: as (.*))?$/.exec(line);
          expect(m).not.toBeNull();
          const [, id, alias] = m!;
          const name = expectedNames[i]!;
          expect(id).toMatch(ID);
          expect(KEYWORDS).not.toContain(id!.toLowerCase());
          if (alias === undefined) expect(id).toBe(name);
          else expect(unescape(alias).trim()).toBe(name.replace(/\r\n|\r/g, '\n').trim());
          ids.set(name, id!);
        });
        expect(new Set(ids.values()).size).toBe(ids.size);
        expect(lines.slice(1, 1 + declared.length)).toEqual(declared);

        // Messages: one per record, in order, between declared participants, with the label intact.
        const messages = lines.slice(1 + declared.length);
        expect(messages.length).toBe(trace.length);
        messages.forEach((line, i) => {
          const r = trace[i]!;
          const m = /^ {2}([A-Za-z0-9_]+)->>([A-Za-z0-9_]+): (.*)$/.exec(line);
          expect(m).not.toBeNull();
          expect(m![1]).toBe(ids.get(r.from));
          expect(m![2]).toBe(ids.get(r.to));
          const label = (r.step === undefined ? r.label : `[${r.step}] ${r.label}`).replace(/\r\n|\r/g, '\n');
          expect(unescape(m![3]!)).toBe(label === '' ? '-' : label);
        });

        // Nothing Mermaid would read as a separator, a comment or a tag is left bare.
        for (const line of lines) {
          const bare = line.replace(/#(\d+|lt);/g, '');
          expect(bare).not.toMatch(/[;#%\r\n]/);
          expect(bare.replace(/<br\/>/g, '')).not.toContain('<');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the timeline has one aligned line per record, in order', () => {
    const oneLine = (s: string) => s.replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t');
    fc.assert(
      fc.property(traceArb, (trace) => {
        const [header, ...rows] = traceToTimeline(trace).split('\n');
        expect(rows.length).toBe(trace.length);
        const at = { from: header!.indexOf('from'), to: header!.indexOf(' to ') + 1, step: header!.indexOf('step'), label: header!.indexOf('label') };
        rows.forEach((row, i) => {
          const r = trace[i]!;
          // Trailing blanks are trimmed from a line with an empty label: put them back to slice.
          const line = row.padEnd(at.label);
          if (r.label === '') expect(row).toBe(row.trimEnd());
          expect(line.slice(0, at.from - 2).trimStart()).toBe(`${r.time}`);
          expect(line.slice(at.from, at.to - 4)).toBe(oneLine(r.from).padEnd(at.to - 4 - at.from));
          expect(line.slice(at.to - 4, at.to)).toBe(' -> ');
          expect(line.slice(at.to, at.step - 2).trimEnd()).toBe(oneLine(r.to).trimEnd());
          expect(line.slice(at.step, at.label - 2).trimEnd()).toBe(r.step === undefined ? '' : `${r.step}`);
          expect(line.slice(at.label)).toBe(oneLine(r.label));
        });
      }),
      { numRuns: 300 },
    );
  });
});
