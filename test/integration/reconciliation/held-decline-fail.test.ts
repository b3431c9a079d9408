/**
 * Reconciliation's FAIL of an operation at a gateway that takes a resend as a new request (Cybersource, no idempotency
 * key) after an earlier attempt that may have landed (a 5xx): whether its decline of the resend was held UNRESOLVED, or
 * the resend's own answer is not recorded yet, the PSP's failed line is the resend's and speaks for one transaction
 * only, like a webhook's reject (src/delivery/held-failover.ts, `failHeldBack`): it does not settle the operation
 * (reported, left for the poller or an operator). At a gateway that replays a key's answer (the simulator) the same
 * line settles it as ever. Real Redis; Cybersource's Transaction Search played by a local stand-in, the simulator real.
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
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
/** The declined resend's transaction at Cybersource; 22 digits with no Luhn-valid card-length window. */
const RESEND_ID = '6381278241084565900700';
let sim: PspSimulator;
let config: Config;
let redis: RedisClient;
let ledger: Ledger;
let events: EventStore;
const log = captureLogger('info');

/** The transaction summaries the Cybersource stand-in's search lists (every page request: one page). */
let summaries: Record<string, unknown>[] = [];
const search = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/tss/v2/searches') return void res.writeHead(404).end();
    res.writeHead(201, { 'content-type': 'application/hal+json;charset=utf-8' });
    res.end(JSON.stringify({ count: summaries.length, totalCount: summaries.length, _embedded: { transactionSummaries: summaries } }));
  });
});

beforeAll(async () => {
  sim = await startPspSimulator({ apiKey: API_KEY });
  await new Promise<void>((resolve) => search.listen(0, '127.0.0.1', resolve));
  config = testConfig({
    gateways: {
      simulator: { type: 'simulator', base_url: sim.url, api_key: API_KEY, webhook_secret: 'whsec-recon-held-0123456789', timeout_ms: 5000 },
      cybs: {
        type: 'cybersource',
        base_url: `http://127.0.0.1:${(search.address() as AddressInfo).port}`,
        merchant_id: 'testrest',
        key_id: '08c94330-f618-42a3-b09d-e1e43be5efda',
        shared_secret: 'yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE=',
        timeout_ms: 5000,
      },
    },
  });
  redis = createRedis(config.redis, 'commands');
  ledger = new Ledger(redis, config.redis.keyPrefix);
  events = new EventStore(redis, config.redis.keyPrefix);
});

afterAll(async () => {
  redis.disconnect();
  await sim.stop();
  search.closeAllConnections();
  await new Promise<void>((resolve) => search.close(() => resolve()));
  await purgeNamespace(config).catch(() => undefined);
});

/** An operation of `command` at `gateway` whose first attempt got a 5xx and whose resend is sent, its answer not recorded. */
async function resendInFlight(command: 'authorize' | 'sale', payment: Record<string, unknown>): Promise<string> {
  const cmd = channelCommand(command, {}, payment);
  const id = cmd.payment.operation_reference!;
  await ledger.create(id, cmd);
  await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 1 }, { countAttempt: true });
  await ledger.appendInteraction(id, { event: 'send_error', kind: 'server_error', status: 500 });
  await ledger.transition(id, 'SENT', { event: 'attempt', attempt: 2 }, { countAttempt: true });
  return id;
}

/** A Cybersource authorization whose resend (`RESEND_ID`, 100.00 USD) the search lists declined. */
async function cybersourceResendInFlight(): Promise<string> {
  const id = await resendInFlight('authorize', { gateway: 'cybs', gateway_key: 'AB695DA801DD1BB6E05341588E0A3BDC', amount: 10000, currency: 'USD' });
  summaries = [
    {
      id: RESEND_ID,
      submitTimeUtc: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      applicationInformation: { applications: [{ name: 'ics_auth', rCode: '0', reasonCode: '203' }] },
      clientReferenceInformation: { code: id },
      orderInformation: { amountDetails: { totalAmount: '100.00', currency: 'USD' } },
    },
  ];
  return id;
}

/** Reconciles `gateway` over the last minute to the next one; the verdicts and the summary. */
async function run(gateway: string): Promise<{ verdicts: LineVerdict[]; settled: number; result: string }> {
  const verdicts: LineVerdict[] = [];
  const window = { from: Date.now() - 60_000, to: Date.now() + 60_000 };
  const { summary } = await reconcile(config, { gateway, window, logger: log.logger, redis, sink: { verdict: (v) => void verdicts.push(v) } });
  return { verdicts, settled: summary.settled, result: summary.result };
}

/** The warn lines `reconciliation failure held back…` about operation `id`. */
const heldLines = (id: string) =>
  log.lines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => String(l.message).startsWith('reconciliation failure held back') && l.operation_id === id);

describe('reconciliation: a failed line of a resend after an earlier attempt that may have landed', () => {
  it('at Cybersource, its decline held UNRESOLVED: reported, not applied, no FAILED event, logged at warn', async () => {
    const id = await cybersourceResendInFlight();
    await ledger.appendInteraction(id, { event: 'attempt_ended', trigger: 'declined', gateway: 'cybs', decline_held: DECLINE_OF_NEW_REQUEST });
    await ledger.transition(id, 'UNRESOLVED', { event: 'unresolved' }, { nextCheckAt: Date.now() + 3_600_000 });
    const { verdicts, settled, result } = await run('cybs');
    expect(result).toBe('done');
    expect(verdicts.find((v) => v.ledger?.operationId === id)?.action).toEqual({ type: 'settle', status: 'FAIL' });
    expect(settled).toBe(0);
    expect((await ledger.get(id))?.state).toBe('UNRESOLVED');
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect(heldLines(id)[0]).toMatchObject({ level: 'warn', operation_id: id, gateway: 'cybs' });
  });

  it("at Cybersource, the resend's own answer not recorded yet: reported, not applied, the operation still SENT, no FAILED event", async () => {
    const id = await cybersourceResendInFlight();
    const { verdicts, settled, result } = await run('cybs');
    expect(result).toBe('done');
    expect(verdicts.find((v) => v.ledger?.operationId === id)?.action).toEqual({ type: 'settle', status: 'FAIL' });
    expect(settled).toBe(0);
    expect((await ledger.get(id))?.state).toBe('SENT');
    expect(await events.load(`${id}.FAILED`)).toBeNull();
    expect(heldLines(id)[0]).toMatchObject({ level: 'warn', operation_id: id, gateway: 'cybs' });
  });

  it("at a gateway that replays a key's answer (the simulator), the resend's answer not recorded yet: settled FAILED as before", async () => {
    const id = await resendInFlight('sale', { amount: 6100, gateway_key: 'pm_card_declined' });
    const cmd = (await ledger.get(id))!;
    const route = createGatewayClients(config).get('simulator')!;
    // The resend at the simulator: its declined line is what the run reads.
    await route.client.send(route.transformer.buildRequest({ operationId: id, command: cmd.command, payment: cmd.payment }, route.gateway));
    const { settled, result } = await run('simulator');
    expect(result).toBe('done');
    expect(settled).toBe(1);
    expect((await ledger.get(id))?.state).toBe('FAILED');
    expect(heldLines(id)).toEqual([]);
  });
});
