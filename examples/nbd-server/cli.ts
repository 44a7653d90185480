/**
 * The command line of the vdisk-map NBD server.
 *
 *   npm run nbd -- serve --data DIR (--socket PATH | --port N) [--create NAME:SIZE ...]
 *   npm run nbd -- serve --data DIR --role controller --listen-agents ADDR [--create NAME:SIZE ...]
 *   npm run nbd -- serve --data DIR --role agent --agent ID --controller ADDR (--socket PATH | --port N)
 *   npm run nbd -- ctl --data DIR list | stats | snapshot DISK NAME | migrate DISK --to-lun N
 *   npm run nbd -- ctl --data DIR check | dump DISK          (offline: reads the persisted state)
 */
import * as E from 'fp-ts/lib/Either.js';
import { pino } from 'pino';
import { parseArgs } from 'node:util';
import { checkTables, decodeTable, formatTable, type MappingTable } from '../../src/index.js';
import { callControl, controlPath, serveControl, type ControlRequest } from './control.js';
import type { ControllerSide } from './controller-side.js';
import { readNodeConfig, sharingGroups } from './data-dir.js';
import { readJournalState } from './journal-store.js';
import { parseAddress } from './net-transport.js';
import { listen, removeStaleSocket, type Backend } from './server.js';
import { agentLinkOf, controllerLinkOf, controlHandlerOf, guardFromOptions, SECURITY_OPTIONS, signedControlRequest } from './security-options.js';
import { chmod } from 'node:fs/promises';
import { LOCAL_AGENT, openAgentNode, openControllerNode, openNode, type NodeOptions } from './vdisk-node.js';

// File I/O runs on libuv's thread pool (4 threads by default): 4k random I/O from many
// connections needs more of them in flight. Set before the first file operation uses the pool.
process.env.UV_THREADPOOL_SIZE ??= '16';

const UNITS: Readonly<Record<string, number>> = { '': 1, B: 1, K: 1024, KIB: 1024, M: 1024 ** 2, MIB: 1024 ** 2, G: 1024 ** 3, GIB: 1024 ** 3, T: 1024 ** 4, TIB: 1024 ** 4 };

/**
 * A size such as `256MiB`, `4GiB`, `512K` or `1048576`, in bytes.
 *
 * @example
 * parseSize('256MiB') // Right(268435456)
 */
export const parseSize = (text: string): E.Either<string, number> => {
  const m = /^(\d+)\s*([A-Za-z]*)$/.exec(text.trim());
  const unit = m === null ? undefined : UNITS[m[2]!.toUpperCase()];
  if (m === null || unit === undefined) return E.left(`size ${JSON.stringify(text)} is not a number with an optional unit (K, KiB, M, MiB, G, GiB, T, TiB)`);
  const bytes = Number(m[1]) * unit;
  return Number.isSafeInteger(bytes) && bytes > 0 ? E.right(bytes) : E.left(`size ${JSON.stringify(text)} is not a positive safe integer of bytes`);
};

/** `NAME:SIZE`, as `--create` takes it. */
export const parseCreate = (text: string): E.Either<string, { name: string; bytes: number }> => {
  const i = text.lastIndexOf(':');
  if (i <= 0) return E.left(`--create ${JSON.stringify(text)} must be NAME:SIZE`);
  const name = text.slice(0, i);
  if (!/^[A-Za-z0-9._@-]{1,128}$/.test(name)) return E.left(`--create ${JSON.stringify(text)}: the name may use letters, digits and . _ @ - only`);
  return E.map((bytes: number) => ({ name, bytes }))(parseSize(text.slice(i + 1)));
};

const die = (message: string): never => {
  process.stderr.write(`nbd: ${message}\n`);
  process.exit(2);
};

const orDie = <A>(e: E.Either<string, A>): A => (E.isLeft(e) ? die(e.left) : e.right);

/** The `ctl` requests a running controller answers. */
const controlHandler =
  (side: ControllerSide) =>
  async ({ command, args: a }: ControlRequest): Promise<unknown> => {
    switch (command) {
      case 'list':
        return side.list();
      case 'stats':
        return side.stats();
      case 'snapshot':
        if (a.length !== 2) throw new Error('snapshot needs DISK NAME');
        await side.snapshot(a[0]!, a[1]!);
        return `snapshot ${a[1]} of ${a[0]} taken`;
      case 'migrate': {
        const lun = Number(a[1]);
        if (a.length !== 2 || !Number.isSafeInteger(lun)) throw new Error('migrate needs DISK LUN');
        await side.migrate(a[0]!, lun);
        return `migration of ${a[0]} to LUN ${lun} started`;
      }
      default:
        throw new Error(`unknown command ${JSON.stringify(command)}`);
    }
  };

const serve = async (args: string[]): Promise<void> => {
  const { values } = parseArgs({
    args,
    options: {
      data: { type: 'string' },
      socket: { type: 'string' },
      port: { type: 'string' },
      create: { type: 'string', multiple: true },
      role: { type: 'string' },
      agent: { type: 'string' },
      controller: { type: 'string' },
      'listen-agents': { type: 'string' },
      'segment-size': { type: 'string' },
      'lun-size': { type: 'string' },
      luns: { type: 'string' },
      'log-level': { type: 'string' },
      ...SECURITY_OPTIONS,
    },
    strict: true,
  });
  const log = pino({ level: values['log-level'] ?? 'info', base: { pid: process.pid } }, pino.destination(2));
  if (values.data === undefined) return die('serve needs --data DIR');
  const data = values.data;
  const role = values.role ?? 'all';
  if (role !== 'all' && role !== 'controller' && role !== 'agent') return die(`--role ${role} must be all, controller or agent`);
  const serveNbd = role !== 'controller';
  if (serveNbd && (values.socket === undefined) === (values.port === undefined)) return die('serve needs exactly one of --socket PATH and --port N');
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) return die(`--port ${values.port} is not a TCP port`);
  const create = (values.create ?? []).map((c) => orDie(parseCreate(c)));
  const luns = values.luns === undefined ? undefined : Number(values.luns);
  if (luns !== undefined && !(Number.isInteger(luns) && luns >= 1 && luns <= 64)) return die(`--luns ${values.luns} must be 1 to 64`);
  const options: NodeOptions = {
    dir: data,
    create,
    log,
    segmentBytes: values['segment-size'] === undefined ? undefined : orDie(parseSize(values['segment-size'])),
    lunBytes: values['lun-size'] === undefined ? undefined : orDie(parseSize(values['lun-size'])),
    lunCount: luns,
  };

  const closers: Array<() => Promise<unknown>> = [];
  let side: ControllerSide | null = null;
  let backend: Backend | null = null;
  if (role === 'all') {
    const node = await openNode(options);
    [side, backend] = [node.controllerSide, node.backend];
    closers.push(() => node.close());
  } else if (role === 'controller') {
    const agents = values['listen-agents'] === undefined ? die('--role controller needs --listen-agents ADDR (a socket path, PORT or HOST:PORT)') : parseAddress(values['listen-agents']);
    if (agents === null) return die(`--listen-agents ${values['listen-agents']} is not a socket path, PORT or HOST:PORT`);
    const node = await openControllerNode(options, agents, await controllerLinkOf(values).catch((e: Error) => die(e.message)));
    side = node.side;
    closers.push(() => node.close());
  } else {
    if (create.length > 0) return die('--create belongs to the controller (--role controller or all)');
    const controller = values.controller === undefined ? die('--role agent needs --controller ADDR') : parseAddress(values.controller);
    if (controller === null) return die(`--controller ${values.controller} is not a socket path, PORT or HOST:PORT`);
    const id = values.agent ?? die('--role agent needs --agent ID (stable across restarts)');
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id) || id === LOCAL_AGENT) return die(`--agent ${id} must be letters, digits, . _ - and not ${LOCAL_AGENT}`);
    const node = await openAgentNode(options, id, controller, await agentLinkOf(values, id).catch((e: Error) => die(e.message)));
    backend = node.backend;
    closers.push(() => node.close());
  }

  let address = `controller ${values['listen-agents'] ?? ''}`;
  if (backend !== null) {
    const where = values.socket !== undefined ? { socket: values.socket } : { port: port! };
    // Security hook: TLS, access policy and limits (security-options.ts).
    const isSnapshot = async (name: string): Promise<boolean> => (await readNodeConfig(data))?.exports.find((e) => e.name === name)?.snapshot ?? false;
    const guard = await guardFromOptions(values, backend, isSnapshot).catch((e: Error) => die(e.message));
    const listener = await listen(backend, where, log, guard);
    closers.unshift(() => listener.close());
    address = values.socket ?? `127.0.0.1:${port}`;
    log.info({ ...where, exports: (await backend.exports()).map((e) => e.name) }, 'listening');
  }
  if (side !== null) {
    const control = controlPath(data);
    await removeStaleSocket(control);
    const controlServer = await serveControl(control, await controlHandlerOf(values, controlHandler(side)).catch((e: Error) => die(e.message)));
    // Security hook: only this user may reach the control socket; with --ctl-psk a request must also be signed.
    await chmod(control, 0o600);
    closers.unshift(async () => controlServer.close());
  }
  // A line on stdout that scripts can wait for.
  process.stdout.write(`ready ${address}\n`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    void (async () => {
      for (const close of closers) await close().catch(() => undefined);
      process.exit(0);
    })();
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
};

const tablesOf = async (dir: string): Promise<Map<string, MappingTable>> => {
  const state = await readJournalState(dir, (m) => process.stderr.write(`warning: ${m}\n`));
  const tables = new Map<string, MappingTable>();
  for (const { disk, table } of state.tables) {
    const decoded = decodeTable(table);
    if (E.isLeft(decoded)) die(`table of disk ${disk} does not decode: ${decoded.left.map((e) => e.message).join('; ')}`);
    else tables.set(disk, decoded.right);
  }
  return tables;
};

/** Commands the issue names that need library support this build does not have yet. */
const NOT_YET: Readonly<Record<string, string>> = {
  delete: 'deleting a disk or snapshot needs a deleteDisk admin request in vdisk-map',
  rollback: 'rollback needs a rollback admin request in vdisk-map',
};

const online = async (data: string, command: string, args: string[], keyFile?: string): Promise<void> => {
  const reply = await callControl(controlPath(data), await signedControlRequest({ command, args }, keyFile));
  if (!reply.ok) return die(reply.error);
  process.stdout.write(typeof reply.result === 'string' ? `${reply.result}\n` : `${JSON.stringify(reply.result, null, 2)}\n`);
};

const ctl = async (args: string[]): Promise<void> => {
  const { values, positionals } = parseArgs({ args, options: { data: { type: 'string' }, 'to-lun': { type: 'string' }, 'ctl-key': { type: 'string' } }, allowPositionals: true, strict: true });
  const key = values['ctl-key'];
  if (values.data === undefined) return die('ctl needs --data DIR');
  const [command, ...rest] = positionals;
  if (command !== undefined && NOT_YET[command] !== undefined) return die(`${command} is not available yet: ${NOT_YET[command]}`);
  switch (command) {
    case 'list':
    case 'stats':
      return online(values.data, command, [], key);
    case 'snapshot':
      if (rest.length !== 2) return die('snapshot needs DISK NAME');
      return online(values.data, command, rest, key);
    case 'migrate':
      if (rest.length !== 1 || values['to-lun'] === undefined) return die('migrate needs DISK --to-lun N');
      return online(values.data, command, [rest[0]!, values['to-lun']], key);
    case 'check': {
      // Offline, like thin_check: recomputes references from the persisted tables.
      const config = await readNodeConfig(values.data);
      if (config === null) return die(`${values.data} holds no vdisk-map NBD node (no node.json)`);
      const report = checkTables(await tablesOf(values.data), {
        lunSizes: Object.fromEntries(Object.entries(config.luns).map(([lun, blocks]) => [Number(lun), blocks])),
        sharing: sharingGroups(config),
      });
      for (const f of report.findings) process.stdout.write(`${f.severity}: ${f.message}\n`);
      const corrupt = report.findings.filter((f) => f.severity === 'corruption').length;
      process.stdout.write(corrupt === 0 ? `clean (${report.findings.length} findings, none corruption)\n` : `${corrupt} corruption findings\n`);
      process.exit(corrupt === 0 ? 0 : 1);
      return;
    }
    case 'dump': {
      const disk = rest[0] ?? die('dump needs DISK');
      const table = (await tablesOf(values.data)).get(disk) ?? die(`no disk ${JSON.stringify(disk)}`);
      process.stdout.write(`${formatTable(table)}\n`);
      return;
    }
    default:
      return die(`unknown ctl command ${JSON.stringify(command)} (this build offers: list, stats, snapshot, migrate, check, dump)`);
  }
};

const main = async (): Promise<void> => {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'serve') return serve(args);
  if (command === 'ctl') return ctl(args);
  die('usage: nbd serve --data DIR (--socket PATH | --port N) [--create NAME:SIZE ...] | nbd ctl --data DIR (list | stats | snapshot DISK NAME | migrate DISK --to-lun N | check | dump DISK)');
};

main().catch((e: unknown) => die(e instanceof Error ? e.message : String(e)));
