/**
 * The control channel of a running server: a Unix socket `<data>/control.sock` that takes one
 * JSON request line and answers one JSON line. `ctl` is its client.
 */
import { connect, createServer, type Server } from 'node:net';
import { join } from 'node:path';

export interface ControlRequest {
  readonly command: string;
  readonly args: ReadonlyArray<string>;
}

export type ControlReply = { readonly ok: true; readonly result: unknown } | { readonly ok: false; readonly error: string };

export const controlPath = (dir: string): string => join(dir, 'control.sock');

/** Longest request line accepted. */
const MAX_LINE = 64 << 10;

/**
 * Serves control requests with `handle`; a request that is not JSON, too long or failing gets
 * `{ ok: false, error }`.
 *
 * @example
 * const control = await serveControl(dir, async (r) => (r.command === 'list' ? node.list() : Promise.reject(new Error('unknown'))));
 */
export const serveControl = (path: string, handle: (request: ControlRequest) => Promise<unknown>): Promise<Server> => {
  const server = createServer((socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('error', () => undefined);
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf('\n');
      if (newline < 0) {
        if (buffered.length > MAX_LINE) socket.end(`${JSON.stringify({ ok: false, error: 'request line too long' })}\n`);
        return;
      }
      const line = buffered.slice(0, newline);
      socket.pause();
      let request: ControlRequest;
      try {
        const parsed = JSON.parse(line) as { command?: unknown; args?: unknown };
        if (typeof parsed.command !== 'string' || !Array.isArray(parsed.args) || !parsed.args.every((a) => typeof a === 'string')) throw new Error('expected {"command": string, "args": string[]}');
        // Security hook: a credential (ctl-auth.ts) travels with the request to the handler.
        const auth = (parsed as { auth?: unknown }).auth;
        request = { command: parsed.command, args: parsed.args as string[], ...(auth === undefined ? {} : { auth }) } as ControlRequest;
      } catch (e) {
        socket.end(`${JSON.stringify({ ok: false, error: `bad request: ${(e as Error).message}` })}\n`);
        return;
      }
      handle(request).then(
        (result) => socket.end(`${JSON.stringify({ ok: true, result })}\n`),
        (e: unknown) => socket.end(`${JSON.stringify({ ok: false, error: e instanceof Error ? e.message : String(e) })}\n`),
      );
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
};

/** Sends one request to the server at `path`; rejects when it cannot be reached within `timeoutMs`. */
export const callControl = (path: string, request: ControlRequest, timeoutMs = 120_000): Promise<ControlReply> =>
  new Promise((resolve, reject) => {
    const socket = connect(path);
    let answer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (answer += c));
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot reach the server at ${path} (is it running?): ${e.message}`));
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(answer) as ControlReply);
      } catch {
        reject(new Error(`the server at ${path} answered something that is not JSON: ${answer.slice(0, 200)}`));
      }
    });
    socket.once('connect', () => socket.write(`${JSON.stringify(request)}\n`));
  });
