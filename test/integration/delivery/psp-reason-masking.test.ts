import { Queue } from 'bullmq';
import { PassThrough } from 'node:stream';
import { Config } from '../../../src/config/config';
import { OutcomeRecorder } from '../../../src/delivery/outcome-recorder';
import { EventStore } from '../../../src/events/event-store';
import { OmsEventJobData, createOmsEventsQueue } from '../../../src/events/oms-events-queue';
import { withSafeReason } from '../../../src/gateways/outcome-text';
import { Ledger } from '../../../src/ledger/ledger';
import { createLogger } from '../../../src/logging/logger';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';

/**
 * A PSP that echoes a card number in its free text (a refusal reason "invalid card 4111 …"): the text is
 * masked before it is stored in the ledger or sent to the OMS, on a real Redis.
 */
const PAN = '4111 1111 1111 1111';
let config: Config;
let redis: RedisClient;
let eventsQueue: Queue<OmsEventJobData>;
let ledger: Ledger;
let events: EventStore;
let recorder: OutcomeRecorder;

beforeAll(() => {
  config = testConfig();
  redis = createRedis(config.redis, 'commands');
  eventsQueue = createOmsEventsQueue(redis, config.redis.keyPrefix);
  ledger = new Ledger(redis, config.redis.keyPrefix);
  events = new EventStore(redis, config.redis.keyPrefix);
  recorder = new OutcomeRecorder({ config, ledger, events, eventsQueue, logger: createLogger({ stream: new PassThrough(), level: 'error' }) });
});

afterAll(async () => {
  await eventsQueue.close();
  redis.disconnect();
  await purgeNamespace(config).catch(() => undefined);
});

/** Every key and value under `pattern`, as text. */
async function everythingStored(pattern: string): Promise<string> {
  const out: string[] = [];
  for (const key of await redis.keys(pattern)) {
    const type = await redis.type(key);
    out.push(key);
    if (type === 'string') out.push(String(await redis.get(key)));
    else if (type === 'hash') out.push(JSON.stringify(await redis.hgetall(key)));
    else if (type === 'list') out.push(...(await redis.lrange(key, 0, -1)));
    else if (type === 'zset') out.push(...(await redis.zrange(key, 0, -1)));
    else if (type === 'set') out.push(...(await redis.smembers(key)));
  }
  return out.join('\n');
}

describe('a PSP reason holding a card number', () => {
  it('is masked in the outcome, leaving other text as it is', () => {
    expect(withSafeReason({ status: 'FAIL', gatewayStatus: 'Refused', reason: `Refused: invalid card ${PAN}` }).reason).toBe(
      'Refused: invalid card [PAN REDACTED]',
    );
    const plain = { status: 'FAIL' as const, gatewayStatus: 'Refused', reason: 'CVC Declined' };
    expect(withSafeReason(plain)).toBe(plain);
  });

  it('never reaches the ledger record or the FAIL event', async () => {
    const command = channelCommand('authorize', {}, { operation_reference: 'psp-reason-1', order_id: 'o-psp-reason-1' });
    await ledger.create('psp-reason-1', command);
    await ledger.transition('psp-reason-1', 'SENT', { event: 'attempt' }, { countAttempt: true });
    const op = (await ledger.get('psp-reason-1'))!;
    const after = await recorder.apply(op, { status: 'FAIL', gatewayStatus: 'Refused', reason: `Refused: invalid card ${PAN}` }, 'webhook');
    expect(after.state).toBe('FAILED');
    const stored = await everythingStored(`${config.redis.keyPrefix}*`);
    const record = JSON.stringify(await ledger.get('psp-reason-1'));
    const event = JSON.stringify(await events.load('psp-reason-1.FAILED'));
    for (const text of [stored, record, event]) expect(text.replace(/\s/g, '')).not.toContain(PAN.replace(/\s/g, ''));
    expect(stored).toContain('[PAN REDACTED]');
    expect(record).toContain('[PAN REDACTED]');
    expect(event).toContain('[PAN REDACTED]');
  });
});
