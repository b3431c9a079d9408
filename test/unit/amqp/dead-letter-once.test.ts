import type { Options } from 'amqplib';
import { createHash } from 'node:crypto';
import { redactText } from '../../../src/logging/redact';
import { deadLetterStampKey } from '../../../src/amqp/dead-letter-stamp';
import { ConfirmPublisher } from '../../../src/amqp/confirm-publisher';
import {
  DeadLetterOnce,
  deadLetterClaimKey,
  deadLetterIdOf,
  deadLetterIdentity,
  deadLetterIdentityKey,
  deadLetterOnceKey,
} from '../../../src/amqp/dead-letter-once';
import { DeadLetterWriter, reportOnceGap } from '../../../src/amqp/dead-letter-writer';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';
import { testConfig } from '../../support/test-config';
import { deadLetterArchiveKeys } from '../../../src/ops/dead-letter-store';
import { hashSlot } from '../../support/hash-slot';
import { DeadLetterTriage } from '../../../src/amqp/dead-letter-triage';
import { silentLogger } from '../../../src/logging/logger';
import type { RedisClient } from '../../../src/redis/redis-connection';

/** The identity key a process derives from its `service_bus.secret`. */
const identityKey = deadLetterIdentityKey(testConfig().serviceBus.secret);

describe('one dead letter per message: its identity and key', () => {
  const why = { code: 'INVALID_PARAMS', field: 'payment.gateway_key', reason: 'is not an allowed value' };
  const pan = Buffer.from('{"payment":{"card":{"number":"4111111111111111"}}}');

  it('is the same for two copies and differs with the message id, the body or the reason', () => {
    const a = deadLetterIdentity(identityKey, 'op-a', pan, why);
    expect(deadLetterIdentity(identityKey, 'op-a', Buffer.from(pan), { ...why })).toBe(a);
    expect(deadLetterIdentity(identityKey, undefined, pan, why)).not.toBe(a);
    expect(deadLetterIdentity(identityKey, 'op-a', Buffer.from(`${pan.toString()} `), why)).not.toBe(a);
    expect(deadLetterIdentity(identityKey, 'op-a', pan, { ...why, reason: 'other' })).not.toBe(a);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is keyed: the same message under two keys has two identities and ids, and neither is an unkeyed digest of the body', () => {
    const other = deadLetterIdentityKey('another bus secret, after a rotation');
    const a = deadLetterIdentity(identityKey, 'op-a', pan, why);
    const b = deadLetterIdentity(other, 'op-a', pan, why);
    expect(b).not.toBe(a);
    expect(deadLetterIdOf(b)).not.toBe(deadLetterIdOf(a));
    // What the identity was before it was keyed: anyone holding an id could test card numbers against it offline.
    const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
    const unkeyed = sha256(JSON.stringify(['op-a', sha256(pan), why.code, why.field, why.reason, []]));
    for (const identity of [a, b]) {
      expect(identity).not.toBe(unkeyed);
      expect(deadLetterIdOf(identity)).not.toBe(deadLetterIdOf(unkeyed));
      expect(deadLetterIdOf(identity).replace(/-/g, '')).not.toContain(sha256(pan).slice(0, 12));
    }
    // The key is derived for this purpose: neither the secret nor the dead-letter stamp key.
    expect(identityKey.toString('utf8')).not.toContain(testConfig().serviceBus.secret);
    expect(identityKey.equals(deadLetterStampKey(testConfig().serviceBus.secret))).toBe(false);
  });

  it('never carries the body or its card number, and its key lives in the archive slot', () => {
    const identity = deadLetterIdentity(identityKey, undefined, pan, why);
    const key = deadLetterOnceKey('pb:', deadLetterIdOf(identity));
    expect(key).not.toContain('4111');
    expect(hashSlot(key)).toBe(hashSlot(deadLetterArchiveKeys('pb:').time));
    // The claim is read with the mark in one script: the same slot.
    expect(hashSlot(deadLetterClaimKey('pb:', deadLetterIdOf(identity)))).toBe(hashSlot(key));
  });

  it('derives a UUID-shaped dead-letter id from the identity', () => {
    const identity = deadLetterIdentity(identityKey, 'op-a', pan, why);
    expect(deadLetterIdOf(identity)).toBe(deadLetterIdOf(identity));
    expect(deadLetterIdOf(identity)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('derives ids that headers and log lines carry whole: an id masked as a card number would name no mark', () => {
    // About one UUID-shaped id in two hundred holds a Luhn-valid run of 12-19 digits across its dashes. Masked in
    // x-pb-dead-letter-id, its record names no mark (the archive's trim leaves the mark behind) and its log lines
    // name no record.
    for (let i = 0; i < 3000; i += 1) {
      const id = deadLetterIdOf(createHash('sha256').update(`identity ${i}`).digest('hex'));
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(redactText(id)).toBe(id);
    }
  });
});

describe('DeadLetterWriter with a one-per-message mark', () => {
  const why = { code: 'INVALID_PARAMS', field: 'payment.amount', reason: 'is not an integer', source: 'amqp:test' };
  const body = Buffer.from('{"payment":{"amount":1.5}}');

  /** A mark store in memory; `down` makes it fail as Redis away does. */
  const marks = () => {
    const map = new Map<string, string>();
    const state = { down: false };
    const once = {
      claim: async (identity: string) => {
        if (state.down) throw new Error('Connection is closed.');
        const id = map.get(identity);
        return id !== undefined ? { kind: 'written', id } : { kind: 'claimed', token: 'claim:test' };
      },
      release: async () => undefined,
      mark: async (identity: string, id: string) => {
        if (state.down) throw new Error('Connection is closed.');
        map.set(identity, id);
      },
    };
    return { once: once as unknown as DeadLetterOnce, map, state };
  };

  it('writes once per identity, marks only after the publish, and comes back duplicate with the first id', async () => {
    const published: string[] = [];
    const { once, map } = marks();
    let failNext = true;
    const publisher = {
      publish: async (_e: string, _k: string, _b: Buffer, options: Options.Publish) => {
        // The first publish is not confirmed: no mark may be left behind it.
        if (failNext) {
          failNext = false;
          throw new Error('nacked');
        }
        published.push(String((options.headers as Record<string, string>)['x-pb-dead-letter-id']));
      },
    };
    const writer = new DeadLetterWriter(publisher as unknown as ConfirmPublisher, testConfig().amqp, undefined, undefined, once);
    const identity = deadLetterIdentity(identityKey, 'op-a', body, why);
    await expect(writer.write(body, why, {}, { identity })).rejects.toThrow('nacked');
    expect(map.size).toBe(0);
    expect(await writer.write(body, why, {}, { identity })).toEqual({ id: deadLetterIdOf(identity), duplicate: false });
    expect(await writer.write(body, why, {}, { identity })).toEqual({ id: deadLetterIdOf(identity), duplicate: true });
    expect(published).toEqual([deadLetterIdOf(identity)]);
    // Without an identity (the HTTP intake, delivery's parked operations): a dead letter each time, as before.
    await writer.write(body, why);
    expect(published).toHaveLength(2);
  });

  it('gives a dead letter written without an identity a random id its header carries whole', async () => {
    const ids: string[] = [];
    const publisher = {
      publish: async (_e: string, _k: string, _b: Buffer, options: Options.Publish) =>
        void ids.push(String((options.headers as Record<string, string>)['x-pb-dead-letter-id'])),
    };
    const writer = new DeadLetterWriter(publisher as unknown as ConfirmPublisher, testConfig().amqp);
    for (let i = 0; i < 2000; i += 1) expect((await writer.write(body, why)).id).toBe(ids[i]);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('writes the dead letter when the mark cannot be read (Redis away), saying why', async () => {
    const published: Buffer[] = [];
    const { once, state } = marks();
    state.down = true;
    const publisher = { publish: async (_e: string, _k: string, b: Buffer) => void published.push(b) };
    const writer = new DeadLetterWriter(publisher as unknown as ConfirmPublisher, testConfig().amqp, undefined, undefined, once);
    const written = await writer.write(body, why, {}, { identity: deadLetterIdentity(identityKey, undefined, body, why) });
    expect(written).toMatchObject({ duplicate: false, onceGap: 'redis_away', onceError: 'Connection is closed.' });
    expect(published).toHaveLength(1);
  });

  it('says a write made because another copy held the claim past the wait apart from Redis away', async () => {
    const published: Buffer[] = [];
    const marked: string[] = [];
    // Redis answers: another copy's claim is still there when the wait ends.
    const once = {
      claim: async () => ({ kind: 'unresolved' }),
      release: async () => undefined,
      mark: async (_identity: string, id: string) => void marked.push(id),
    } as unknown as DeadLetterOnce;
    const publisher = { publish: async (_e: string, _k: string, b: Buffer) => void published.push(b) };
    const writer = new DeadLetterWriter(publisher as unknown as ConfirmPublisher, testConfig().amqp, undefined, undefined, once);
    const identity = deadLetterIdentity(identityKey, undefined, body, why);
    const written = await writer.write(body, why, {}, { identity });
    expect(written).toMatchObject({ duplicate: false, onceGap: 'held_past_wait' });
    expect(published).toHaveLength(1);
    // Marked all the same: later copies find it.
    expect(marked).toEqual([deadLetterIdOf(identity)]);
  });
});

describe('reportOnceGap: each way a dead letter may be a second record has its own words and label', () => {
  const fields = { dead_letter_id: 'id-one', reason: 'invalid_params' };
  const cases = [
    ['redis_away', 'dead letter written without its one-per-message mark (Redis away)'],
    ['held_past_wait', 'dead letter written while another copy still held its write claim past the wait (Redis answered)'],
    ['claim_expired', 'dead letter published after its write claim expired'],
  ] as const;

  it.each(cases)('%s', async (gap, words) => {
    const logs = captureLogger();
    const before = await metricValue('pb_dead_letters_maybe_twice_total', { why: gap });
    reportOnceGap(logs.logger, { id: 'id-one', duplicate: false, onceGap: gap, onceError: 'why' }, fields);
    expect(logs.lines).toHaveLength(1);
    expect(logs.lines[0]).toContain(words);
    for (const [other, otherWords] of cases) if (other !== gap) expect(logs.lines[0]).not.toContain(otherWords);
    expect(JSON.parse(logs.lines[0])).toMatchObject({ level: 'warn', dead_letter_id: 'id-one', reason: 'invalid_params', error: 'why' });
    expect((await metricValue('pb_dead_letters_maybe_twice_total', { why: gap })) - before).toBe(1);
  });

  it('says nothing of a write that had its mark', () => {
    const logs = captureLogger();
    reportOnceGap(logs.logger, { id: 'id-one', duplicate: false }, fields);
    expect(logs.lines).toHaveLength(0);
  });
});

describe('DeadLetterWriter: nothing fails the write once the dead letter is confirmed', () => {
  const why = { code: 'INVALID_PARAMS', field: 'payment.amount', reason: 'is not an integer', source: 'http:intake' };
  // A capture: high-impact by default (channels.triage.commands), so it has a copy in the triage queue.
  const body = Buffer.from('{"command":"capture","channel":"web","payment":{"amount":1.5,"currency":"EUR","order_id":"o-1"}}');

  const setUp = (failing: 'triage' | 'dead-letter' | 'none') => {
    const config = testConfig();
    const queues: string[] = [];
    const marks = new Map<string, string>();
    const released: string[] = [];
    const once = {
      claim: async (identity: string) => {
        const id = marks.get(identity);
        return id !== undefined ? { kind: 'written', id } : { kind: 'claimed', token: 'token' };
      },
      release: async (identity: string) => void released.push(identity),
      mark: async (identity: string, id: string) => void marks.set(identity, id),
    } as unknown as DeadLetterOnce;
    const publisher = {
      publish: async (_e: string, queue: string) => {
        const kind = queue === config.amqp.deadLetterQueue ? 'dead-letter' : 'triage';
        if (kind === failing) throw new Error(`${kind} not confirmed`);
        queues.push(kind);
      },
    };
    const triage = new DeadLetterTriage({ redis: {} as RedisClient, keyPrefix: 'pb:', triage: config.channels.triage, logger: silentLogger() });
    const writer = new DeadLetterWriter(publisher as unknown as ConfirmPublisher, config.amqp, triage, undefined, once);
    return { writer, queues, marks, released, identity: deadLetterIdentity(identityKey, undefined, body, why) };
  };

  it('sends the triage copy before the dead letter: a copy that fails leaves no dead letter and no mark', async () => {
    const { writer, queues, marks, released, identity } = setUp('triage');
    await expect(writer.write(body, why, {}, { identity })).rejects.toThrow('triage not confirmed');
    expect(queues).toEqual([]);
    expect(marks.size).toBe(0);
    expect(released).toEqual([identity]);
  });

  it('marks the dead letter once it is confirmed, after its triage copy', async () => {
    const { writer, queues, marks, identity } = setUp('none');
    expect(await writer.write(body, why, {}, { identity })).toEqual({ id: deadLetterIdOf(identity), duplicate: false });
    expect(queues).toEqual(['triage', 'dead-letter']);
    expect(marks.get(identity)).toBe(deadLetterIdOf(identity));
    expect(await writer.write(body, why, {}, { identity })).toEqual({ id: deadLetterIdOf(identity), duplicate: true });
    expect(queues).toHaveLength(2);
  });

  it('leaves no mark when the dead letter itself is not confirmed', async () => {
    const { writer, marks, identity } = setUp('dead-letter');
    await expect(writer.write(body, why, {}, { identity })).rejects.toThrow('dead-letter not confirmed');
    expect(marks.size).toBe(0);
  });
});
