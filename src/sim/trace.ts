/**
 * Renderings of a simulator trace for people: a Mermaid sequence diagram and an aligned plain
 * text timeline. Both are pure functions of the trace records, so the same run renders the same
 * text, byte for byte.
 */
import type { TraceRecord } from './config.js';

/**
 * Options of {@link traceToMermaid}. `maxRecords` keeps a long trace within what a Mermaid
 * renderer will draw.
 *
 * @example
 * traceToMermaid(result.trace, { title: `seed ${result.seed}`, maxRecords: 200 });
 */
export interface MermaidOptions {
  /** A title shown above the diagram. */
  readonly title?: string;
  /** Renders only the first `maxRecords` records, and a note saying how many were left out. */
  readonly maxRecords?: number;
}

/**
 * Options of {@link traceToTimeline}.
 *
 * @example
 * console.log(traceToTimeline(result.trace, { maxRecords: 50, header: false }));
 */
export interface TimelineOptions {
  /** Renders only the first `maxRecords` records, and a line saying how many were left out. */
  readonly maxRecords?: number;
  /** Starts with a `time  from -> to  step  label` header line (default true). */
  readonly header?: boolean;
}

/** The participants that come first, in this order; agents (`a0`, `a1`, ...) go after `host`. */
const LEADING = ['host'] as const;
const TRAILING = ['controller', 'persistence', 'storage'] as const;
const AGENT = /^a(\d+)$/;

/**
 * Words the Mermaid sequence diagram lexer reads as keywords (case-insensitively), so a
 * participant named so must go behind an alias.
 */
const RESERVED = /* @__PURE__ */ new Set(
  [
    'sequencediagram', 'participant', 'actor', 'create', 'destroy', 'as', 'box', 'loop', 'rect', 'opt', 'alt', 'else', 'par',
    'par_over', 'and', 'critical', 'option', 'break', 'end', 'left', 'right', 'of', 'over', 'note', 'links', 'link',
    'properties', 'details', 'activate', 'deactivate', 'title', 'acctitle', 'accdescr', 'autonumber', 'off', 'wrap', 'nowrap',
  ],
);
const SAFE_ID = /^[A-Za-z_][A-Za-z0-9_]*$/;

const limitOf = (n: number | undefined, length: number): number =>
  n === undefined || Number.isNaN(n) ? length : Math.max(0, Math.min(length, Math.floor(n)));

/** Numeric order for agents, so `a2` comes before `a10`; ties (such as `a01`, `a1`) by text. */
const compareAgents = (x: string, y: string): number => {
  const d = Number(AGENT.exec(x)![1]) - Number(AGENT.exec(y)![1]);
  return d !== 0 ? d : x < y ? -1 : x > y ? 1 : 0;
};

/**
 * The participants of `records` in display order: `host`, the agents by number, `controller`,
 * `persistence`, `storage`, then any others in code-unit order. Only names that occur are listed.
 * The order {@link traceToMermaid} declares them in; also useful for a rendering of one's own.
 *
 * @example
 * traceParticipants([
 *   { time: 0, from: 'controller', to: 'a10', label: 'send retry' },
 *   { time: 1, from: 'host', to: 'a2', label: 'read vd1 0+4 io1' },
 * ]) // ['host', 'a2', 'a10', 'controller']
 */
export const traceParticipants = (records: ReadonlyArray<TraceRecord>): string[] => {
  const names = new Set<string>();
  for (const r of records) {
    names.add(r.from);
    names.add(r.to);
  }
  const fixed = new Set<string>([...LEADING, ...TRAILING]);
  const agents = [...names].filter((n) => AGENT.test(n)).sort(compareAgents);
  const others = [...names].filter((n) => !fixed.has(n) && !AGENT.test(n)).sort();
  return [...LEADING.filter((n) => names.has(n)), ...agents, ...TRAILING.filter((n) => names.has(n)), ...others];
};

/**
 * Escapes text for the end of a Mermaid line (a message, a note, a title or an alias).
 * `#`, `;` and `%` would end the text or start a comment, and `<` could open an HTML tag, so they
 * become Mermaid entity codes (`#35;`, `#59;`, `#37;`, `#lt;`); line breaks become `<br/>`.
 * A leading `wrap:` or `nowrap:` (a Mermaid directive) has its colon escaped as `#58;`.
 *
 * @example
 * escapeMermaidText('a;b # c\nd') // 'a#59;b #35; c<br/>d'
 */
export const escapeMermaidText = (text: string): string => {
  const escaped = text.replace(/\r\n|[\r\n#;%<]/g, (c) => {
    switch (c) {
      case '#':
        return '#35;';
      case ';':
        return '#59;';
      case '%':
        return '#37;';
      case '<':
        return '#lt;';
      default:
        return '<br/>';
    }
  });
  return escaped.replace(/^(\s*(?:no)?wrap):/i, '$1#58;');
};

/** Participant name -> Mermaid identifier: the name itself when Mermaid reads it as one, else `pN`. */
const participantIds = (names: ReadonlyArray<string>): Map<string, string> => {
  const safe = (n: string) => SAFE_ID.test(n) && !RESERVED.has(n.toLowerCase());
  const taken = new Set(names.filter(safe));
  const ids = new Map<string, string>();
  let next = 0;
  for (const n of names) {
    if (safe(n)) {
      ids.set(n, n);
      continue;
    }
    let id: string;
    do id = `p${next++}`;
    while (taken.has(id));
    taken.add(id);
    ids.set(n, id);
  }
  return ids;
};

/**
 * Renders a trace as a Mermaid `sequenceDiagram`. Participants are declared first, in the order of
 * {@link traceParticipants}; names Mermaid cannot take as identifiers (`end`, `a b`, `x;y`, ...)
 * get an identifier `pN` and are shown through an alias. Each record becomes one message line
 * `from->>to: label`, in trace order; a record with a flowchart step has its label prefixed with
 * the step, as in `[575] send setEntries`. Texts are escaped with {@link escapeMermaidText}, so
 * every record is exactly one line and no line holds a raw `;`, `#`, `%` or line break.
 *
 * @example
 * traceToMermaid([
 *   { time: 0, from: 'host', to: 'a0', label: 'write vd1 0+4 io1' },
 *   { time: 3, from: 'controller', to: 'a0', label: 'send setEntries', step: 575 },
 * ], { title: 'zero fault' });
 * // sequenceDiagram
 * //   title zero fault
 * //   participant host
 * //   participant a0
 * //   participant controller
 * //   host->>a0: write vd1 0+4 io1
 * //   controller->>a0: [575] send setEntries
 */
export const traceToMermaid = (trace: ReadonlyArray<TraceRecord>, options: MermaidOptions = {}): string => {
  const limit = limitOf(options.maxRecords, trace.length);
  const shown = trace.slice(0, limit);
  const names = traceParticipants(shown);
  const ids = participantIds(names);
  const lines = ['sequenceDiagram'];
  if (options.title !== undefined && options.title.trim() !== '') lines.push(`  title ${escapeMermaidText(options.title.trim())}`);
  for (const n of names) {
    const id = ids.get(n)!;
    lines.push(id === n ? `  participant ${id}` : `  participant ${id} as ${escapeMermaidText(n) || ' '}`);
  }
  for (const r of shown) {
    const label = r.step === undefined ? r.label : `[${r.step}] ${r.label}`;
    // Mermaid wants some text after the colon.
    lines.push(`  ${ids.get(r.from)!}->>${ids.get(r.to)!}: ${escapeMermaidText(label) || '-'}`);
  }
  const left = trace.length - limit;
  if (left > 0 && names.length > 0) {
    const over = names.length === 1 ? ids.get(names[0]!)! : `${ids.get(names[0]!)!},${ids.get(names[names.length - 1]!)!}`;
    lines.push(`  Note over ${over}: ${left} more record${left === 1 ? '' : 's'} not shown`);
  }
  return lines.join('\n');
};

/** Makes a text one line of plain text: line breaks and tabs become `\n`, `\r` and `\t`. */
const oneLine = (text: string): string =>
  text.replace(/[\r\n\t]/g, (c) => (c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));

/**
 * Renders a trace as an aligned plain text timeline, one line per record in trace order: the time
 * (right-aligned), `from -> to` (both padded to the widest name), the step (blank when the record
 * has none) and the label. Line breaks and tabs in names and labels show as `\n`, `\r`, `\t`, so
 * each record stays on one line. Column padding never trails a line.
 *
 * @example
 * traceToTimeline([
 *   { time: 0, from: 'host', to: 'a0', label: 'write vd1 0+4 io1' },
 *   { time: 12, from: 'controller', to: 'persistence', label: 'persist vd1 g1->g2', step: 570 },
 * ]);
 * // time  from          to           step  label
 * //    0  host       -> a0                 write vd1 0+4 io1
 * //   12  controller -> persistence  570   persist vd1 g1->g2
 */
export const traceToTimeline = (trace: ReadonlyArray<TraceRecord>, options: TimelineOptions = {}): string => {
  const limit = limitOf(options.maxRecords, trace.length);
  const rows = trace.slice(0, limit).map((r) => ({
    time: `${r.time}`,
    from: oneLine(r.from),
    to: oneLine(r.to),
    step: r.step === undefined ? '' : `${r.step}`,
    label: oneLine(r.label),
  }));
  const header = options.header !== false;
  const head = { time: 'time', from: 'from', to: 'to', step: 'step', label: 'label' };
  const all = header ? [head, ...rows] : rows;
  const width = (k: 'time' | 'from' | 'to' | 'step') => Math.max(0, ...all.map((r) => r[k].length));
  const [wt, wf, wo, ws] = [width('time'), width('from'), width('to'), width('step')];
  const lines: string[] = [];
  if (header) lines.push(`${'time'.padEnd(wt)}  ${'from'.padEnd(wf)}    ${'to'.padEnd(wo)}  ${'step'.padEnd(ws)}  label`);
  for (const r of rows) {
    // Without a header and with no steps, the step column is left out altogether.
    const columns = `${r.time.padStart(wt)}  ${r.from.padEnd(wf)} -> ${r.to.padEnd(wo)}  ${ws === 0 ? '' : `${r.step.padEnd(ws)}  `}`;
    // Padding is trimmed; the label is kept as it is.
    lines.push(r.label === '' ? columns.trimEnd() : columns + r.label);
  }
  const left = trace.length - limit;
  if (left > 0) lines.push(`... ${left} more record${left === 1 ? '' : 's'} not shown`);
  return lines.join('\n');
};
