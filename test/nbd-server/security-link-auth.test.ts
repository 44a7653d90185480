/**
 * The pure rules of the agent links and of `ctl` credentials: the agents file, which agent may
 * serve which disk, what the link guard refuses, and signed control requests.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import type { AgentMessage } from '../../src/index.js';
import { requireControlKey, signControlRequest } from '../../examples/nbd-server/ctl-auth.js';
import { createLinkGuard, mayServe, parseAgentDisks } from '../../examples/nbd-server/link-auth.js';

const diskArb = fc.constantFrom('vol', 'vol@1', 'scratch', 'scratch@2', 'other');
const patternArb = fc.constantFrom('vol', 'vol@*', 'vol*', 'scratch*', '*', 'other');

describe('agents file and link guard', () => {
  it('mayServe agrees with a reference: some pattern is the disk, or a prefix of it followed by *', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.uniqueArray(patternArb, { maxLength: 4 }), { maxKeys: 3 }), fc.constantFrom('a', 'b', 'c', 'd'), diskArb, (doc, agent, disk) => {
        const parsed = parseAgentDisks(JSON.stringify(doc));
        if (E.isLeft(parsed)) throw new Error(parsed.left);
        const naive = (doc[agent] ?? []).some((p) => p === disk || (p.endsWith('*') && disk.startsWith(p.slice(0, -1))));
        expect(mayServe(parsed.right, agent, disk)).toBe(naive);
        expect(mayServe(undefined, agent, disk)).toBe(true);
      }),
    );
    expect(parseAgentDisks('{"a": "vol"}')).toEqual(E.left('agents file: a must map to a list of export names or patterns ending in *, got "vol"'));
    expect(parseAgentDisks('{"a b": []}')).toEqual(E.left('agents file: agent id "a b" must be letters, digits, . _ - (1 to 64)'));
  });

  it('the guard refuses a hello for another identity, unknown agents, spoofed messages and foreign disks', () => {
    const agents = new Map([['a', ['vol*']], ['b', ['scratch']]]);
    const guard = createLinkGuard({ psk: new Map([['a', Buffer.alloc(32, 1)]]) }, agents);
    expect(guard.refuseHello('a', 'a')).toBeNull();
    expect(guard.refuseHello('a', 'b')).toBe('the connection authenticated as "a" but says hello as "b"');
    expect(guard.refuseHello(null, 'a')).toBe('the connection authenticated as null but says hello as "a"');
    expect(guard.refuseHello('c', 'c')).toBe('agent "c" is not configured');
    const msg = (agent: string, disk: string): AgentMessage => ({ type: 'tableAck', agent, epoch: 1, disk, generation: 2 });
    expect(guard.refuseMessage('a', msg('a', 'vol@1'))).toBeNull();
    expect(guard.refuseMessage('a', msg('b', 'vol'))).toEqual({ why: 'a message from "a" claims to come from "b"', drop: true });
    expect(guard.refuseMessage('b', msg('b', 'vol'))).toEqual({ why: 'agent "b" is not configured for disk "vol"', drop: false });
  });
});

describe('ctl credentials', () => {
  const keys = new Map([['admin', Buffer.alloc(32, 5)]]);
  const ran: string[] = [];
  const handler = async (r: { command: string }): Promise<string> => (ran.push(r.command), 'done');

  it('runs signed requests once, within the time window, and refuses everything else', async () => {
    let now = 1_000_000;
    const guarded = requireControlKey(keys, handler, () => now);
    const signed = signControlRequest({ command: 'list', args: [] }, 'admin', keys.get('admin')!, now);
    expect(await guarded(signed)).toBe('done');
    await expect(guarded(signed)).rejects.toThrow('ctl request replayed');
    await expect(guarded({ command: 'list', args: [] })).rejects.toThrow('this server requires a ctl key');
    await expect(guarded(signControlRequest({ command: 'list', args: [] }, 'admin', Buffer.alloc(32, 6), now))).rejects.toThrow('ctl key refused');
    await expect(guarded(signControlRequest({ command: 'list', args: [] }, 'root', keys.get('admin')!, now))).rejects.toThrow('ctl key refused');
    // A signature covers the command and its arguments.
    const tampered = { ...signControlRequest({ command: 'list', args: [] }, 'admin', keys.get('admin')!, now), command: 'migrate', args: ['vol', '2'] };
    await expect(guarded(tampered)).rejects.toThrow('ctl key refused');
    await expect(guarded(signControlRequest({ command: 'stats', args: [] }, 'admin', keys.get('admin')!, now - 61_000))).rejects.toThrow(/from the server's clock/);
    now += 120_000; // the first nonce has expired from memory, and its time from the window
    await expect(guarded(signed)).rejects.toThrow(/from the server's clock/);
    expect(ran).toEqual(['list']);
  });
});
