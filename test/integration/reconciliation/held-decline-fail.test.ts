/**
 * Reconciliation's FAIL of an operation whose decline of a resend was held UNRESOLVED (no idempotency key: the
 * resend's decline answers that request only, an earlier attempt may have landed: src/delivery/held-failover.ts).
 * The PSP's failed line is the declined resend's: it speaks for one transaction only, like a webhook's reject, so it
 * does not settle the operation (reported, left UNRESOLVED for the poller or an operator). Real Redis, the simulator.
 */
import { Config } from '../../../src/config/config';
import { Ledger } from '../../../src/ledger/ledger';
import { RedisClient, createRedis } from '../../../src/redis/redis-connection';
import { reconcile } from '../../../src/reconciliation-run/reconcile';
import { LineVerdict } from '../../../src/reconciliation/reconciliation-class';
import { createGatewayClients } from '../../../src/gateways/gateway-registry';
import { EventStore } from '../../../src/events/event-store';
import { PspSimulator, startPspSimulator } from '../../../harness/twins/psp-simulator/psp-simulator';
import { purgeNamespace } from '../../../harness/twins/local-stack/local-stack';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { DECLINE_OF_NEW_REQUEST } from '../../../src/delivery/held-failover';

jest.setTimeout(60_000);

const API_KEY = 'sim-recon-held-key-0123456789';
let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let events: EventStore;
const log = captureLogger('info');

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
  config = testConfig({
    gateways: { simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-recon-held-0123456789', timeout_ms: 5000 } },
  });
  redis = createRedis(config.redis, 'commands');
  ledger = new Ledger(redis, config.redis.keyPrefix);
  events = new EventStore(redis, config.redis.keyPrefix);
});

afterAll(async () => {
  redis.disconnect();
  await sim.stop();
  await purgeNamespace(config).catch(() => undefined);
});

/** A sale declined at the simulator (its line: failed), held UNRESOLVED as a decline of a resend is. */
async function heldDeclinedSale(): Promise<string> {
  const command = channelCommand('sale', {}, { amount: 6100, gateway_key: 'pm_card_declined' });
  const id = command.payment.operation_reference!;
  await ledger.create(id, command);
  const route = createGatewayClients(config).get('simulator')!;
  const ctx = { operationId: id, command: command.command, payment: command.payment };
  await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
  await ledger.appendInteraction(id, { event: 'send_error', kind: 'server_error', status: 500 });
  await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 2 }, { countAttempt: true });
  await route.client.send(route.transformer.buildRequest(ctx, route.gateway));
  await ledger.appendInteraction(id, { event: 'attempt_ended', trigger: 'declined', gateway: 'simulator', decline_held: DECLINE_OF_NEW_REQUEST });
  await ledger.transition(id, 'UNRESOLVED', { event: 'unresolved' }, { nextCheckAt: Date.now() + 3_600_000 });
  return id;
}

describe('reconciliation: a failed line of an operation whose decline of a resend was held', () => {
  it('does not settle it: reported, the operation stays UNRESOLVED, no FAILED event, logged at warn', async () => {
    const from = Date.now() - 1;
    const id = await heldDeclinedSale();
    const window = { from, to: Date.now() + 1 };
    const verdicts: LineVerdict[] = [];
    const { summary } = await reconcile(config, { gateway: 'simulator', window, logger: log.logger, redis, sink: { verdict: (v) => void verdicts.push(v) } });
    expect(summary.result).toBe('done');
    expect(verdicts.find((v) => v.ledger?.operationId === id)?.action).toEqual({ type: 'settle', status: 'FAIL' });
    expect(summary.settled).toBe(0);
    expect((await ledger.get(id))?.state).toBe('UNRESOLVED');
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    const line = log.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => String(l.message).startsWith('reconciliation failure held back'));
    expect(line).toMatchObject({ level: 'warn', operation_id: id, gateway: 'simulator' });
  });
});
