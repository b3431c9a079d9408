/**
 * What a signed notification's identifiers may put in Redis, through the real path (web process, outcome
 * queue, worker) on a real Redis: a card number never, yet a PSP reference that only looks like one (Adyen's
 * pspReference can start with 2 to 6 and pass the Luhn check) is applied when it is about an operation of
 * ours; an event id BullMQ cannot carry in a key (a lone surrogate) is queued under its digest and applied. So is an
 * Adyen stored token (storedPaymentMethodId / recurringDetailReference: 16 characters, often all digits) that passes
 * the Luhn check: handed on as a token when its item names an operation of ours, skipped otherwise.
 */
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { opsWebhookDigest } from '../../../src/cli/webhook-commands';
import { AuditRecord } from '../../../src/audit/audit-log';
import Stripe from 'stripe';
import { IssuedTokens } from '../../../src/ledger/issued-tokens';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { bullJobId } from '../../../src/queueing/job-id';
import { scanRedis } from '../../../harness/workload/card-data-scan';
import { captureLogger } from '../../support/capture-logger';
import { eventually } from '../../support/tcp-proxy';
import {
  adyenWebhookGateway,
  pendingOperation,
  postAdyenBatch,
  signedAdyenItem,
  stripeWebhookGateway,
  succeededOperation,
  useWebhookStack,
} from '../../support/webhook-stack';
import { luhnComplete } from '../../support/luhn';

const ADYEN_HMAC = '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056';
const MERCHANT = 'IdentifiersMerchant';
const STRIPE_SECRET = 'whsec_webhook_identifiers_0123456789abcdef';
const AMOUNT = 5000;

const webLogs = captureLogger('info');
const workerLogs = captureLogger('info');
/** What the OMS was sent: each event's `payment`. */
const sent: Array<Record<string, unknown>> = [];
const stack = useWebhookStack(
  {
    adyen: adyenWebhookGateway(MERCHANT, ADYEN_HMAC),
    stripe: stripeWebhookGateway(STRIPE_SECRET),
  },
  {
    webLogger: webLogs.logger,
    workerLogger: workerLogs.logger,
    notify: async (_method, params) => {
      sent.push(params.payment as Record<string, unknown>);
    },
  },
);
const stripe = new Stripe('sk_test_unit_only');

let seq = 0;
/** A fresh 16-digit pspReference starting with `first` (2 to 6) that passes the Luhn check: a card number to every scan. */
/** The shopper reference of the stored-token cases: Adyen's stored token is kept as `<shopper>:<id>`. */
const SHOPPER = 'shopper-ids-0042';
const cardLikeReference = (first: number): string => luhnComplete(`${first}${String(Date.now()).slice(-9)}${String(++seq).padStart(5, '0')}`);

function authorisation(pspReference: string, merchantReference: string): Record<string, unknown> {
  return signedAdyenItem(
    { eventCode: 'AUTHORISATION', merchantReference, pspReference, merchantAccountCode: MERCHANT, amount: { value: AMOUNT, currency: 'EUR' } },
    ADYEN_HMAC,
  );
}

const pendingAdyen = (pspReference: string) =>
  pendingOperation(
    stack.worker,
    'authorize',
    { gateway: 'adyen', amount: AMOUNT, currency: 'EUR', order_id: `order-ids-${Date.now().toString(36)}-s${++seq}` },
    pspReference,
  );

/** A PENDING Adyen authorization whose pspReference the reference index holds, as the /payments answer left it. */
async function pendingIndexed(pspReference: string): Promise<string> {
  const id = await pendingAdyen(pspReference);
  await stack.worker.ledger.transitionAndGet(
    id,
    'PENDING',
    { event: 'outcome' },
    { gatewayReference: pspReference },
    { reference: { gateway: 'adyen', reference: pspReference } },
  );
  expect(await stack.worker.ledger.findByReference('adyen', pspReference)).toBe(id);
  return id;
}

/** What `payment-bridge ops webhooks digest` prints for `value` with the stack's configuration. */
async function digestCommand(value: string, opts: { token?: boolean } = {}): Promise<string> {
  let printed = '';
  const out = new Writable({ write: (chunk: Buffer, _enc, done) => ((printed += chunk.toString()), done()) });
  const ctx = { config: stack.config, audit: { record: async () => ({}) as AuditRecord } };
  await opsWebhookDigest(ctx, { out, err: process.stderr, actor: 'ops@test' }, Readable.from([Buffer.from(value, 'utf8')]), opts);
  return printed.trim();
}

/**
 * A card-like reference (as `cardLikeReference`) whose keyed digests, as lines and event ids carry them, hold no run of
 * 12 or more decimal digits: the log's card-number masking takes such a run of a hex digest for a card number when it
 * passes the Luhn check (about one run in a few hundred), and a line or event id masked so fails the checks below
 * that find them by their digest or that nothing was masked.
 */
async function plainCardLikeReference(first: number): Promise<string> {
  for (;;) {
    const value = cardLikeReference(first);
    const digests = [await digestCommand(value), await digestCommand(value, { token: true }), await digestCommand(`${SHOPPER}:${value}`)];
    if (!digests.some((d) => /\d{12,}/.test(d))) return value;
  }
}

/** Posts a Stripe event (raw JSON text, so a lone surrogate can be sent as its escape) signed as Stripe signs it. */
async function postStripe(raw: string): Promise<number> {
  const signature = stripe.webhooks.generateTestHeaderString({ payload: raw, secret: STRIPE_SECRET });
  const res = await fetch(`${stack.web.server.url}/webhooks/stripe`, {
    method: 'POST',
    body: raw,
    headers: { 'content-type': 'application/json', 'stripe-signature': signature },
  });
  await res.text();
  return res.status;
}

function capturableEvent(eventId: string, pi: string, operationId: string): string {
  const object = {
    id: pi,
    object: 'payment_intent',
    amount: AMOUNT,
    amount_capturable: AMOUNT,
    amount_received: 0,
    capture_method: 'manual',
    currency: 'eur',
    metadata: { operation_id: operationId },
    status: 'requires_capture',
  };
  const event = { id: '@@id@@', object: 'event', type: 'payment_intent.amount_capturable_updated', created: Math.floor(Date.now() / 1000), data: { object } };
  // JSON.stringify writes a lone surrogate as its \u escape, as a PSP would send it.
  return JSON.stringify(event).replace('"@@id@@"', JSON.stringify(eventId));
}

const skipped = (gateway: string, reason: string) => metricValue('pb_webhook_items_skipped_total', { gateway, reason });

describe('a signed notification whose identifiers hold a card number or cannot be a key', () => {
  it('an Adyen AUTHORISATION whose Luhn-valid pspReference starting with 2 to 6 the reference index holds is applied', async () => {
    for (const first of [2, 4, 5]) {
      const reference = await plainCardLikeReference(first);
      const before = await skipped('adyen', 'card_number');
      const id = await pendingIndexed(reference);
      // A merchant reference Adyen got as a digest (an id longer than 80 characters): only the reference names it.
      const answer = await postAdyenBatch(stack, 'adyen', [authorisation(reference, `pbh-${'a'.repeat(64)}`)]);
      expect(answer).toEqual({ status: 200, body: '[accepted]' });
      await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
      expect(await skipped('adyen', 'card_number')).toBe(before);
    }
  });

  it('one whose card-number-like pspReference is not indexed yet is applied when its merchantReference names our operation (its answer lost)', async () => {
    const reference = await plainCardLikeReference(3);
    const id = await pendingAdyen('ANSWERNOTRECORD1');
    const answer = await postAdyenBatch(stack, 'adyen', [authorisation(reference, id)]);
    expect(answer.status).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
  });

  it('one whose card-number-like pspReference names no operation of ours is acknowledged and skipped (card_number), leaving no trace of the number in Redis or the log', async () => {
    const reference = await plainCardLikeReference(4);
    const before = await skipped('adyen', 'card_number');
    const answer = await postAdyenBatch(stack, 'adyen', [authorisation(reference, 'opref-not-ours-1')]);
    expect(answer).toEqual({ status: 200, body: '[accepted]' });
    expect(await skipped('adyen', 'card_number')).toBe(before + 1);
    const scan = await scanRedis(stack.worker.redis, stack.config.redis.keyPrefix, [reference]);
    expect(scan.findings).toEqual([]);
    // The line holds the keyed digest an operator gets from `ops webhooks digest`, never the unkeyed SHA-256 (the
    // 16 digits of a card number with a known BIN are found from that offline).
    const digest = await digestCommand(reference);
    const line = webLogs.lines.find((l) => l.includes(digest));
    expect(JSON.parse(line!)).toMatchObject({
      level: 'warn',
      gateway: 'adyen',
      reason: 'card_number',
      field: 'gatewayReference',
      value_hmac: digest,
      psp_status: 'AUTHORISATION',
    });
    expect(webLogs.lines.filter((l) => l.includes(reference))).toEqual([]);
    const unkeyed = createHash('sha256').update(Buffer.from(reference, 'utf16le')).digest('hex');
    expect(webLogs.lines.filter((l) => l.includes(unkeyed))).toEqual([]);
  });

  it('a Stripe event whose id holds a lone surrogate is queued under its digest and applied: its job completes, none is left stuck', async () => {
    const pi = `pi_ids_${Date.now()}`;
    const id = await pendingOperation(stack.worker, 'authorize', { gateway: 'stripe', amount: AMOUNT, currency: 'EUR' }, pi);
    const eventId = `evt_ids_${Date.now()}\ud800x`;
    expect(await postStripe(capturableEvent(eventId, pi, id))).toBe(200);
    await eventually(async () => (await stack.worker.ledger.get(id))?.state === 'SUCCEEDED');
    const digest = createHash('sha256').update(Buffer.from(eventId, 'utf16le')).digest('hex');
    await eventually(async () => (await stack.outcomes.getJob(bullJobId(`wh.stripe.sha256:${digest}`)))?.finishedOn !== undefined);
    expect(await stack.outcomes.getJobCounts('active', 'wait', 'delayed')).toEqual({ active: 0, wait: 0, delayed: 0 });
    expect(workerLogs.lines.filter((l) => l.includes('Missing key'))).toEqual([]);
  });

  it('a Stripe event whose metadata.operation_id is of no shape the bridge makes is acknowledged and skipped (not_our_operation), nothing queued', async () => {
    const before = await skipped('stripe', 'not_our_operation');
    const eventId = `evt_ids_foreign_${Date.now()}`;
    expect(await postStripe(capturableEvent(eventId, `pi_ids_foreign_${Date.now()}`, 'Order 42 / Müller'))).toBe(200);
    expect(await skipped('stripe', 'not_our_operation')).toBe(before + 1);
    expect(await stack.outcomes.getJob(bullJobId(`wh.stripe.${eventId}`))).toBeUndefined();
  });
});

describe('an Adyen stored token (storedPaymentMethodId / recurringDetailReference) that passes the Luhn check', () => {
  const PAN = '4111111111111111';
  const cardLikeTokens = () => metricValue('pb_webhook_card_like_tokens_total', { gateway: 'adyen' });
  /** The event the OMS was sent with `eventId`. */
  const sentEvent = (eventId: string) => sent.find((p) => p.event_id === eventId);
  /** Every log line of both processes holding `text`. */
  const logged = (text: string) => [...webLogs.lines, ...workerLogs.lines].filter((l) => l.includes(text));
  /**
   * Where both logs stand, for `maskedSince`: the logger masks a Luhn-valid token, so `logged(token)` alone cannot
   * see one logged; a line holding the mask, or the shopper reference a token is filed under, can.
   */
  const logMark = () => ({ web: webLogs.lines.length, worker: workerLogs.lines.length });
  const maskedSince = (from: { web: number; worker: number }, shopper = SHOPPER) =>
    [...webLogs.lines.slice(from.web), ...workerLogs.lines.slice(from.worker)].filter((l) => l.includes('[PAN REDACTED]') || l.includes(`${shopper}:`));

  /** A RECURRING_CONTRACT: `token` as its pspReference, the payment's as originalReference, filed under `shopper`. */
  function contract(token: string, merchantReference: string, payment: string, shopper = SHOPPER): Record<string, unknown> {
    return signedAdyenItem(
      {
        eventCode: 'RECURRING_CONTRACT',
        merchantReference,
        pspReference: token,
        originalReference: payment,
        merchantAccountCode: MERCHANT,
        amount: { value: 0, currency: 'EUR' },
        additionalData: { shopperReference: shopper, 'recurring.shopperReference': shopper, 'recurring.recurringDetailReference': token },
      },
      ADYEN_HMAC,
    );
  }

  /** An operation that SUCCEEDED at Adyen as `reference`, having asked for a token its answer did not carry. */
  async function succeededStoring(reference: string): Promise<string> {
    const op = await succeededOperation(
      stack.worker,
      'authorize',
      { gateway: 'adyen', order_id: `order-ids-${Date.now().toString(36)}-s${++seq}`, payment_method: { type: 'card', store: true } },
      reference,
    );
    expect(op.state).toBe('SUCCEEDED');
    await eventually(async () => sentEvent(`${op.id}.SUCCEEDED`) !== undefined);
    return op.id;
  }

  it('on an AUTHORISATION of ours reaches the outcome: the operation succeeds and its SUCCESS event hands the OMS the token; logged nowhere, in no history', async () => {
    const mark = logMark();
    const token = await plainCardLikeReference(5);
    const [before, kept] = [await skipped('adyen', 'card_number'), await cardLikeTokens()];
    const id = await pendingOperation(
      stack.worker,
      'authorize',
      {
        gateway: 'adyen',
        amount: AMOUNT,
        currency: 'EUR',
        order_id: `order-ids-${Date.now().toString(36)}-s${++seq}`,
        payment_method: { type: 'card', store: true },
      },
      'TOKENIDSAUTHORSA',
    );
    const item = signedAdyenItem(
      {
        eventCode: 'AUTHORISATION',
        merchantReference: id,
        pspReference: 'TOKENIDSAUTHORSA',
        merchantAccountCode: MERCHANT,
        amount: { value: AMOUNT, currency: 'EUR' },
        additionalData: { 'tokenization.storedPaymentMethodId': token, 'tokenization.shopperReference': SHOPPER },
      },
      ADYEN_HMAC,
    );
    expect(await postAdyenBatch(stack, 'adyen', [item])).toEqual({ status: 200, body: '[accepted]' });
    expect(await skipped('adyen', 'card_number')).toBe(before);
    expect(await cardLikeTokens()).toBe(kept + 1);
    await eventually(async () => sentEvent(`${id}.SUCCEEDED`) !== undefined);
    expect(sentEvent(`${id}.SUCCEEDED`)).toMatchObject({ status: 'SUCCESS', token: `${SHOPPER}:${token}` });
    expect((await stack.worker.ledger.get(id))?.storedToken).toBe(`${SHOPPER}:${token}`);
    expect(JSON.stringify(await stack.worker.ledger.interactions(id))).not.toContain(token);
    expect(logged(token)).toEqual([]);
    expect(maskedSince(mark)).toEqual([]);
    // The route's info line names the item, never the token.
    expect(logged("queued as the PSP's token").some((l) => l.includes('TOKENIDSAUTHORSA:AUTHORISATION:true'))).toBe(true);
  });

  it('on a RECURRING_CONTRACT of ours reaches the outcome: the OMS gets the token on an event of its own', async () => {
    const mark = logMark();
    const token = await plainCardLikeReference(6);
    const id = await succeededStoring('TOKENIDSCONTRACT');
    const before = await skipped('adyen', 'card_number');
    expect(await postAdyenBatch(stack, 'adyen', [contract(token, id, 'TOKENIDSCONTRACT')])).toEqual({ status: 200, body: '[accepted]' });
    expect(await skipped('adyen', 'card_number')).toBe(before);
    await eventually(async () => sentEvent(`${id}.stored-token`) !== undefined);
    expect(sentEvent(`${id}.stored-token`)).toMatchObject({ status: 'SUCCESS', token: `${SHOPPER}:${token}`, token_update: true });
    expect((await stack.worker.ledger.get(id))?.storedToken).toBe(`${SHOPPER}:${token}`);
    // Noted as issued (by its keyed digest), so the OMS sending it back in payment.gateway_key is accepted.
    expect(await new IssuedTokens(stack.worker.ledger, stack.config.serviceBus).gatewayOf(`${SHOPPER}:${token}`)).toBe('adyen');
    expect(JSON.stringify(await stack.worker.ledger.interactions(id))).not.toContain(token);
    expect(logged(token)).toEqual([]);
    expect(maskedSince(mark)).toEqual([]);
  });

  it('on an item naming nothing of ours is acknowledged and skipped (card_number), leaving no trace of the token in Redis or the log', async () => {
    const mark = logMark();
    const token = await plainCardLikeReference(5);
    const [before, kept] = [await skipped('adyen', 'card_number'), await cardLikeTokens()];
    expect(await postAdyenBatch(stack, 'adyen', [contract(token, 'opref-not-ours-2', 'TOKENIDSNOTOURS1')])).toEqual({ status: 200, body: '[accepted]' });
    expect(await skipped('adyen', 'card_number')).toBe(before + 1);
    expect(await cardLikeTokens()).toBe(kept);
    expect((await scanRedis(stack.worker.redis, stack.config.redis.keyPrefix, [token])).findings).toEqual([]);
    // Its line names the field and the keyed digest of its value (the token as the bridge holds it: <shopper>:<id>).
    const digest = await digestCommand(`${SHOPPER}:${token}`);
    const line = webLogs.lines.find((l) => l.includes(digest));
    expect(JSON.parse(line!)).toMatchObject({
      level: 'warn',
      reason: 'card_number',
      field: 'storedToken',
      value_hmac: digest,
      psp_status: 'RECURRING_CONTRACT',
    });
    // Its event id names the payment and ends in the token's keyed digest, which `ops webhooks digest --token` gives.
    expect(JSON.parse(line!).event_id).toBe(`TOKENIDSNOTOURS1:RECURRING_CONTRACT:true:${await digestCommand(token, { token: true })}`);
    expect(logged(token)).toEqual([]);
    expect(maskedSince(mark)).toEqual([]);
  });

  it('still skips an item of ours holding a card number in another field (its shopper reference): nothing kept or sent', async () => {
    const mark = logMark();
    const token = await plainCardLikeReference(5);
    const id = await succeededStoring('TOKENIDSPANSHOPR');
    const before = await skipped('adyen', 'card_number');
    expect(await postAdyenBatch(stack, 'adyen', [contract(token, id, 'TOKENIDSPANSHOPR', PAN)])).toEqual({ status: 200, body: '[accepted]' });
    expect(await skipped('adyen', 'card_number')).toBe(before + 1);
    expect((await scanRedis(stack.worker.redis, stack.config.redis.keyPrefix, [PAN, token])).findings).toEqual([]);
    expect((await stack.worker.ledger.get(id))?.storedToken).toBeUndefined();
    await new Promise((r) => setTimeout(r, 300));
    expect(sentEvent(`${id}.stored-token`)).toBeUndefined();
    expect(logged(PAN)).toEqual([]);
    expect(maskedSince(mark, PAN)).toEqual([]);
  });
});
