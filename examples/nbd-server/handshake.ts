/**
 * The fixed newstyle handshake of one connection: greeting, client flags, then options until the
 * client picks an export (NBD_OPT_GO or NBD_OPT_EXPORT_NAME) or gives up (NBD_OPT_ABORT).
 */
import * as E from 'fp-ts/lib/Either.js';
import { Closed, type ByteReader } from './connection-io.js';
import * as P from './protocol.js';
import type { Backend, ExportHandle } from './server.js';
import type { TlsMode } from './tls.js';

/** The security of a handshake (guard.ts); without it: no TLS, the backend as it is. */
export interface HandshakeSecurity {
  readonly tls: TlsMode;
  /** Largest request accepted (the advertised maximum block size is capped to it). */
  readonly maxPayload: number;
  /**
   * After NBD_OPT_STARTTLS was acknowledged: upgrades the connection and resolves with the reader
   * of the TLS stream and the backend as the proven identity may use it. Rejects with `Closed`.
   */
  startTls(): Promise<{ readonly reader: ByteReader; readonly backend: Backend }>;
}

/** What the handshake agreed, as the transmission phase needs it. */
export interface Session {
  structured: boolean;
  /** The export for which base:allocation was selected, if any. */
  metaExport: string | null;
  noZeroes: boolean;
}

/** Options one connection may send before it must choose an export. */
const MAX_OPTIONS = 1024;
/** Longest option data accepted (names and queries are at most 4 KiB each). */
const MAX_OPTION_DATA = 64 << 10;

/** The transmission flags of `h` for this session. */
export const transmissionFlags = (session: Session, h: ExportHandle): number =>
  P.TFLAG_HAS_FLAGS |
  P.TFLAG_SEND_FLUSH |
  P.TFLAG_SEND_FUA |
  P.TFLAG_SEND_TRIM |
  P.TFLAG_SEND_WRITE_ZEROES |
  // FLUSH syncs the LUN files every connection writes to, so it covers them all.
  P.TFLAG_CAN_MULTI_CONN |
  (session.structured ? P.TFLAG_SEND_DF : 0) |
  (h.readOnly ? P.TFLAG_READ_ONLY : 0);

interface Context {
  backend: Backend;
  readonly session: Session;
  readonly send: (...parts: Uint8Array[]) => void;
  readonly maxPayload: number;
}

/** UNKNOWN, or POLICY when an access policy forbids this client the export (access.ts). */
const notOpened = async (ctx: Context, option: number, name: string): Promise<Outcome> => {
  const forbidden = (await ctx.backend.forbidden?.(name)) === true;
  const why = forbidden ? `export ${JSON.stringify(name)} is not permitted by the access policy` : `no export ${JSON.stringify(name)}`;
  return replier(ctx, option).refuse(forbidden ? P.REP_ERR_POLICY : P.REP_ERR_UNKNOWN, why);
};

/** How an option ended: keep negotiating, start transmission on an export, or stop. */
type Outcome = { readonly next: 'options' } | { readonly next: 'transmit'; readonly handle: ExportHandle } | { readonly next: 'abort' };
const more: Outcome = { next: 'options' };

const replier = (ctx: Context, option: number) => ({
  reply: (type: number, payload?: Uint8Array): void => ctx.send(P.encodeOptionReply(option, type, payload)),
  refuse: (type: number, why: string): Outcome => (ctx.send(P.encodeOptionReply(option, type, Buffer.from(why, 'utf8'))), more),
});

const answerGo = async (ctx: Context, option: number, data: Buffer): Promise<Outcome> => {
  const { reply, refuse } = replier(ctx, option);
  const go = P.decodeGoData(data);
  if (E.isLeft(go)) return refuse(P.REP_ERR_INVALID, go.left);
  const h = await ctx.backend.open(go.right.name);
  if (h === undefined) return notOpened(ctx, option, go.right.name);
  reply(P.REP_INFO, P.encodeInfoExport(h.size, transmissionFlags(ctx.session, h)));
  reply(P.REP_INFO, P.encodeInfoBlockSize({ ...ctx.backend.blockSizes, maximum: Math.min(ctx.backend.blockSizes.maximum, ctx.maxPayload) }));
  if (go.right.infoRequests.includes(P.INFO_NAME)) reply(P.REP_INFO, P.encodeInfoText(P.INFO_NAME, h.name));
  if (go.right.infoRequests.includes(P.INFO_DESCRIPTION)) {
    const d = (await ctx.backend.exports()).find((e) => e.name === h.name)?.description ?? '';
    reply(P.REP_INFO, P.encodeInfoText(P.INFO_DESCRIPTION, d));
  }
  reply(P.REP_ACK);
  if (option === P.OPT_INFO) return more;
  // Block status is only for the export the contexts were selected on.
  if (ctx.session.metaExport !== h.name) ctx.session.metaExport = null;
  return { next: 'transmit', handle: h };
};

const answerMetaContext = async (ctx: Context, option: number, data: Buffer): Promise<Outcome> => {
  const { reply, refuse } = replier(ctx, option);
  const set = option === P.OPT_SET_META_CONTEXT;
  if (set) ctx.session.metaExport = null; // replaced even when this one fails
  if (!ctx.session.structured) return refuse(P.REP_ERR_INVALID, 'negotiate structured replies first');
  const m = P.decodeMetaContextData(data);
  if (E.isLeft(m)) return refuse(P.REP_ERR_INVALID, m.left);
  const h = await ctx.backend.open(m.right.name);
  if (h === undefined) return notOpened(ctx, option, m.right.name);
  const { queries } = m.right;
  const match = set ? queries.includes(P.BASE_ALLOCATION) : queries.length === 0 || queries.some((q) => q === 'base:' || q === P.BASE_ALLOCATION);
  if (match) {
    reply(P.REP_META_CONTEXT, P.encodeMetaContext(set ? 1 : 0, P.BASE_ALLOCATION));
    if (set) ctx.session.metaExport = h.name;
  }
  reply(P.REP_ACK);
  return more;
};

const answerOption = async (ctx: Context, option: number, data: Buffer): Promise<Outcome> => {
  const { reply, refuse } = replier(ctx, option);
  switch (option) {
    case P.OPT_EXPORT_NAME: {
      const h = await ctx.backend.open(data.toString('utf8'));
      // This option cannot carry an error: the only answer to a bad name is to hang up.
      if (h === undefined) throw new Closed(`NBD_OPT_EXPORT_NAME: no export ${JSON.stringify(data.toString('utf8'))} for this client`);
      ctx.send(P.encodeExportNameReply(h.size, transmissionFlags(ctx.session, h), ctx.session.noZeroes));
      return { next: 'transmit', handle: h };
    }
    case P.OPT_ABORT:
      reply(P.REP_ACK);
      return { next: 'abort' };
    case P.OPT_LIST:
      if (data.length !== 0) return refuse(P.REP_ERR_INVALID, 'NBD_OPT_LIST takes no data');
      for (const e of await ctx.backend.exports()) reply(P.REP_SERVER, P.encodeServerEntry(e.name, e.description));
      reply(P.REP_ACK);
      return more;
    case P.OPT_INFO:
    case P.OPT_GO:
      return answerGo(ctx, option, data);
    case P.OPT_STRUCTURED_REPLY:
      if (data.length !== 0) return refuse(P.REP_ERR_INVALID, 'NBD_OPT_STRUCTURED_REPLY takes no data');
      if (ctx.session.structured) return refuse(P.REP_ERR_INVALID, 'structured replies are already on');
      ctx.session.structured = true;
      reply(P.REP_ACK);
      return more;
    case P.OPT_LIST_META_CONTEXT:
    case P.OPT_SET_META_CONTEXT:
      return answerMetaContext(ctx, option, data);
    default:
      return refuse(P.REP_ERR_UNSUP, `option ${option} is not supported`);
  }
};

/**
 * Runs the handshake; resolves with the chosen export, or null when the client aborted. Throws
 * `Closed` when the client breaks the protocol or goes away.
 */
export const negotiate = async (
  firstReader: ByteReader,
  backend: Backend,
  session: Session,
  send: (...parts: Uint8Array[]) => void,
  security?: HandshakeSecurity,
): Promise<ExportHandle | null> => {
  let reader = firstReader;
  let tlsDone = false;
  const offered = P.FLAG_FIXED_NEWSTYLE | P.FLAG_NO_ZEROES;
  send(P.encodeGreeting(offered));
  const flags = P.decodeClientFlags(await reader.read(P.CLIENT_FLAGS_BYTES), offered);
  if (E.isLeft(flags)) throw new Closed(flags.left);
  session.noZeroes = (flags.right & P.FLAG_C_NO_ZEROES) !== 0;
  const ctx: Context = { backend, session, send, maxPayload: security?.maxPayload ?? Number.MAX_SAFE_INTEGER };
  for (let n = 0; n < MAX_OPTIONS; n++) {
    const header = P.decodeOptionHeader(await reader.read(P.OPTION_HEADER_BYTES));
    if (E.isLeft(header)) throw new Closed(header.left);
    const { option, length } = header.right;
    if (length > MAX_OPTION_DATA) throw new Closed(`option ${option} carries ${length} bytes of data (at most ${MAX_OPTION_DATA})`);
    const data = await reader.read(length);
    const { reply, refuse } = replier(ctx, option);
    // Security hook: under `--tls require` nothing but STARTTLS (and ABORT) before the upgrade.
    if (security?.tls === 'require' && !tlsDone && option !== P.OPT_STARTTLS && option !== P.OPT_ABORT) {
      if (option === P.OPT_EXPORT_NAME) throw new Closed('NBD_OPT_EXPORT_NAME without TLS, which this server requires');
      refuse(P.REP_ERR_TLS_REQD, 'this server requires TLS: send NBD_OPT_STARTTLS first');
      continue;
    }
    if (option === P.OPT_STARTTLS && security !== undefined && security.tls !== 'off') {
      // Security hook: the upgrade (tls.ts); everything negotiated before it is forgotten.
      if (tlsDone || length !== 0) {
        refuse(P.REP_ERR_INVALID, tlsDone ? 'TLS is already on' : 'NBD_OPT_STARTTLS takes no data');
        continue;
      }
      reply(P.REP_ACK);
      // Plaintext sent after STARTTLS and before the handshake would be injected into the TLS session.
      if (reader.detach() > 0) throw new Closed('the client sent data after NBD_OPT_STARTTLS, before the TLS handshake');
      const upgraded = await security.startTls();
      [reader, ctx.backend, tlsDone] = [upgraded.reader, upgraded.backend, true];
      Object.assign(session, { structured: false, metaExport: null });
      continue;
    }
    const outcome = await answerOption(ctx, option, data);
    if (outcome.next === 'transmit') return outcome.handle;
    if (outcome.next === 'abort') return null;
  }
  throw new Closed(`more than ${MAX_OPTIONS} options without choosing an export`);
};
