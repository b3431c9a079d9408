import { createHash } from 'node:crypto';
import { GatewayConfig } from '../../../src/config/config';
import { adyenTransformer } from '../../../src/gateways/adyen';
import { UnmarkedWebhookItem, WebhookEvent } from '../../../src/gateways/gateway-adapter';
import { WebhookOperationLookup, checkWebhookItem, isUnmarkedItemOurs } from '../../../src/webhooks/webhook-item-check';
import { webhookDigestKeys, webhookValueDigest } from '../../../src/webhooks/webhook-event-key';

const PAN = '4111111111111111';
/** Luhn-valid, starting with 4: what a 16-digit Adyen pspReference can be. */
const PSP_REFERENCE = '4929387412003213';
const MERCHANT = 'AcmeEU';
const KEYS = webhookDigestKeys('bus-secret-for-the-item-check-tests');

const adyen: GatewayConfig = {
  name: 'adyen',
  type: 'adyen',
  baseUrl: 'https://psp.example',
  apiKey: '',
  webhookSecret: '',
  webhookSecretPrevious: '',
  merchantAccount: MERCHANT,
  merchantId: '',
  keyId: '',
  sharedSecret: '',
  reportUsername: '',
  reportPassword: '',
  reportBaseUrl: '',
  authorisationType: '',
  webhookPrivateKey: '',
  webhookKeyId: '',
  webhookKeyIdPrevious: '',
  timeoutMs: 1000,
  maxSockets: 1,
};

/** A ledger holding `operations` and `references` (reference → operation), counting what it is asked. */
function ledger(operations: string[] = [], references: Record<string, string> = {}): WebhookOperationLookup & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    hasOperation: async (id) => (asked.push(`op ${id}`), operations.includes(id)),
    operationOfReference: async (gateway, reference) => (asked.push(`ref ${gateway} ${reference}`), references[reference] ?? null),
  };
}

function authorisation(pspReference: string, merchantReference?: string, extra: Partial<WebhookEvent> = {}): WebhookEvent {
  return {
    eventId: `${pspReference}:AUTHORISATION:true`,
    gatewayReference: pspReference,
    account: MERCHANT,
    outcome: { status: 'SUCCESS', gatewayStatus: 'AUTHORISATION', gatewayReference: pspReference, amount: 5000, currency: 'EUR' },
    ...(merchantReference !== undefined ? { operationId: merchantReference } : {}),
    ...extra,
  };
}

describe('checkWebhookItem', () => {
  it('queues a modification reading with the item, its free text masked; one naming an operation id of no shape of ours, or a card number naming nothing of ours, is left out and the item kept', async () => {
    const reading = {
      command: 'capture' as const,
      operationId: 'opref-cap-1',
      outcome: { status: 'SUCCESS' as const, gatewayStatus: 'succeeded', amount: 400, currency: 'EUR' },
    };
    const queued = await checkWebhookItem(authorisation('QFQTPCQ8HXSKGK82', 'opref-1', { modification: reading }), 'adyen', adyen, ledger(), KEYS);
    expect(queued).toMatchObject({ kind: 'queue', data: { operationId: 'opref-1', modification: reading } });
    for (const operationId of ['not ours!', PAN]) {
      const lookup = ledger();
      const verdict = await checkWebhookItem(
        authorisation('QFQTPCQ8HXSKGK82', 'opref-1', { modification: { ...reading, operationId } }),
        'adyen',
        adyen,
        lookup,
        KEYS,
      );
      expect(verdict).toMatchObject({ kind: 'queue', data: { operationId: 'opref-1' } });
      expect(verdict.kind === 'queue' ? verdict.data.modification : 'skipped').toBeUndefined();
    }
    // A card-number-like id that IS one of ours stays (the digits of our own id).
    const ours = await checkWebhookItem(
      authorisation('QFQTPCQ8HXSKGK82', 'opref-1', { modification: { ...reading, operationId: PAN } }),
      'adyen',
      adyen,
      ledger([PAN]),
      KEYS,
    );
    expect(ours).toMatchObject({ kind: 'queue', data: { modification: { operationId: PAN } } });
    const badCurrency = await checkWebhookItem(
      authorisation('QFQTPCQ8HXSKGK82', 'opref-1', { modification: { ...reading, outcome: { ...reading.outcome, currency: 'eur' } } }),
      'adyen',
      adyen,
      ledger(),
      KEYS,
    );
    expect(badCurrency).toMatchObject({ kind: 'skip', reason: 'unreadable', field: 'modification.outcome.currency' });
  });

  it("queues a reading's others (a lapse failing a capture too) held to the same rules: free text masked, one naming no id of ours left out, a bad currency refused", async () => {
    const other = { command: 'capture' as const, final: true, outcome: { status: 'FAIL' as const, gatewayStatus: 'canceled', reason: `card ${PAN} expired` } };
    const reading = { command: 'cancel' as const, final: true, outcome: { status: 'FAIL' as const, gatewayStatus: 'canceled' }, others: [other] };
    const queued = await checkWebhookItem(authorisation('QFQTPCQ8HXSKGK82', 'opref-1', { modification: reading }), 'adyen', adyen, ledger(), KEYS);
    expect(queued.kind).toBe('queue');
    const others = queued.kind === 'queue' ? queued.data.modification?.others : undefined;
    expect(others).toEqual([{ ...other, outcome: { ...other.outcome, reason: expect.not.stringContaining(PAN) } }]);

    const notOurs = await checkWebhookItem(
      authorisation('QFQTPCQ8HXSKGK82', 'opref-1', { modification: { ...reading, others: [{ ...other, operationId: 'not ours!' }] } }),
      'adyen',
      adyen,
      ledger(),
      KEYS,
    );
    expect(notOurs).toMatchObject({ kind: 'queue', data: { modification: { command: 'cancel', others: [] } } });

    const badCurrency = await checkWebhookItem(
      authorisation('QFQTPCQ8HXSKGK82', 'opref-1', { modification: { ...reading, others: [{ ...other, outcome: { ...other.outcome, currency: 'eur' } }] } }),
      'adyen',
      adyen,
      ledger(),
      KEYS,
    );
    expect(badCurrency).toMatchObject({ kind: 'skip', reason: 'unreadable', field: 'modification.others[0].outcome.currency' });
  });

  it('queues an ordinary item as it is, asking the ledger nothing', async () => {
    const lookup = ledger();
    const verdict = await checkWebhookItem(authorisation('QFQTPCQ8HXSKGK82', 'opref-1'), 'adyen', adyen, lookup, KEYS);
    expect(verdict).toMatchObject({ kind: 'queue', data: { gateway: 'adyen', eventId: 'QFQTPCQ8HXSKGK82:AUTHORISATION:true', operationId: 'opref-1' } });
    expect(lookup.asked).toEqual([]);
  });

  it('skips an item whose operation id is of no shape the bridge makes, as not_our_operation, asking the ledger nothing', async () => {
    const lookup = ledger();
    const verdict = await checkWebhookItem(authorisation('QFQTPCQ8HXSKGK82', 'Order 42 / shop'), 'adyen', adyen, lookup, KEYS);
    expect(verdict).toMatchObject({ kind: 'skip', reason: 'not_our_operation', field: 'operationId' });
    expect(lookup.asked).toEqual([]);
  });

  it('queues an item whose card-number-like pspReference the reference index holds, with its event id as it is', async () => {
    const verdict = await checkWebhookItem(authorisation(PSP_REFERENCE), 'adyen', adyen, ledger([], { [PSP_REFERENCE]: 'opref-7' }), KEYS);
    expect(verdict).toMatchObject({ kind: 'queue', data: { eventId: `${PSP_REFERENCE}:AUTHORISATION:true`, gatewayReference: PSP_REFERENCE } });
  });

  it('queues one whose reference is not indexed yet when its operation id names an operation in the ledger (the answer not recorded yet, or lost)', async () => {
    const verdict = await checkWebhookItem(authorisation(PSP_REFERENCE, 'opref-7'), 'adyen', adyen, ledger(['opref-7']), KEYS);
    expect(verdict).toMatchObject({ kind: 'queue', data: { operationId: 'opref-7', gatewayReference: PSP_REFERENCE } });
  });

  it('skips, as card_number, an item whose card-number-like reference names no operation of ours, keeping nothing of the number', async () => {
    const lookup = ledger();
    const verdict = await checkWebhookItem(authorisation(PAN, 'opref-unknown'), 'adyen', adyen, lookup, KEYS);
    expect(verdict).toMatchObject({ kind: 'skip', reason: 'card_number', field: 'gatewayReference' });
    expect(JSON.stringify(verdict)).not.toContain(PAN);
    expect(lookup.asked).toEqual(['op opref-unknown', `ref adyen ${PAN}`]);
  });

  it('skips a card number as operation id unless the ledger holds that id (a derived id whose hex digits read as one)', async () => {
    const card = await checkWebhookItem(authorisation('QFQTPCQ8HXSKGK82', PAN), 'adyen', adyen, ledger(), KEYS);
    expect(card).toMatchObject({ kind: 'skip', reason: 'card_number', field: 'operationId' });
    const derived = `op-${PSP_REFERENCE}abcdefabcdefabcd`;
    expect(await checkWebhookItem(authorisation('QFQTPCQ8HXSKGK82', derived), 'adyen', adyen, ledger([derived]), KEYS)).toMatchObject({
      kind: 'queue',
      data: { operationId: derived },
    });
  });

  it('skips, as unreadable, an outcome or adjustment whose currency is no upper-case ISO 4217 code, whatever its gateway read', async () => {
    for (const currency of ['EURO', 'eu', 'XXX1', '', 'eur', 'XXX']) {
      const outcome = authorisation('QFQTPCQ8HXSKGK82', 'opref-1');
      outcome.outcome.currency = currency;
      expect(await checkWebhookItem(outcome, 'adyen', adyen, ledger(), KEYS)).toMatchObject({ kind: 'skip', reason: 'unreadable', field: 'outcome.currency' });
      const late = authorisation('QFQTPCQ8HXSKGK82', 'opref-1', {
        adjustment: { kind: 'chargeback', direction: 'debit', failsOpenOperation: false, amount: 100, currency },
      });
      expect(await checkWebhookItem(late, 'adyen', adyen, ledger(), KEYS)).toMatchObject({ kind: 'skip', reason: 'unreadable', field: 'adjustment.currency' });
    }
    const ok = authorisation('QFQTPCQ8HXSKGK82', 'opref-1', {
      adjustment: { kind: 'chargeback', direction: 'debit', failsOpenOperation: false, currency: 'CHE' },
    });
    ok.outcome.currency = 'EUR';
    expect(await checkWebhookItem(ok, 'adyen', adyen, ledger(), KEYS)).toMatchObject({ kind: 'queue' });
  });

  it('skips, as card_number, an item with a card number in any other field (a currency, an account not ours), naming the field', async () => {
    const currency = authorisation('QFQTPCQ8HXSKGK82', 'opref-1');
    currency.outcome.currency = `CARD ${PAN}`;
    expect(await checkWebhookItem(currency, 'adyen', adyen, ledger(), KEYS)).toMatchObject({ kind: 'skip', reason: 'card_number', field: 'outcome.currency' });
    const account = authorisation('QFQTPCQ8HXSKGK82', 'opref-1', { account: PAN });
    expect(await checkWebhookItem(account, 'adyen', adyen, ledger(), KEYS)).toMatchObject({ kind: 'skip', reason: 'card_number', field: 'account' });
  });

  it('queues the free text masked, never skipping an outcome for a card number in its reason', async () => {
    const event = authorisation('QFQTPCQ8HXSKGK82', 'opref-1');
    event.outcome = { ...event.outcome, status: 'FAIL', reason: `card ${PAN} refused` };
    const verdict = await checkWebhookItem(event, 'adyen', adyen, ledger(), KEYS);
    expect(verdict.kind).toBe('queue');
    expect(JSON.stringify(verdict)).not.toContain(PAN);
  });

  it('queues an item whose event id holds a lone surrogate or a card number under a digest, in its data too', async () => {
    for (const eventId of ['evt_a\ud800b', `evt_${PAN}`]) {
      const verdict = await checkWebhookItem({ ...authorisation('QFQTPCQ8HXSKGK82', 'opref-1'), eventId }, 'adyen', adyen, ledger(), KEYS);
      expect(verdict).toMatchObject({ kind: 'queue', data: { eventId: expect.stringMatching(/^(sha256|hmac):[0-9a-f]{64}$/) } });
    }
    // A card number's digest is keyed; a lone surrogate's (no card number) stays the plain one earlier releases queued.
    const card = await checkWebhookItem({ ...authorisation('QFQTPCQ8HXSKGK82', 'opref-1'), eventId: `evt_${PAN}` }, 'adyen', adyen, ledger(), KEYS);
    expect(card).toMatchObject({ kind: 'queue', data: { eventId: expect.stringMatching(/^hmac:[0-9a-f]{64}$/) } });
  });
});

describe('an item about a PSP object carrying no mark of ours (isUnmarkedItemOurs)', () => {
  const skipped = { reason: 'not_ours' as const, eventId: 'evt_1', eventType: 'payment_intent.succeeded', reference: 'pi_1' };
  const unmarked = (fields: Partial<UnmarkedWebhookItem> = {}): UnmarkedWebhookItem => ({ references: ['pi_1'], skipped, ...fields });

  it('is ours when the reference index holds one of its references for the gateway (a PaymentIntent a validate of ours read)', async () => {
    const lookup = ledger([], { ch_1: 'op-validate-1' });
    expect(await isUnmarkedItemOurs(unmarked({ references: ['pi_1', 'ch_1'] }), 'stripe', lookup)).toBe(true);
    expect(lookup.asked).toEqual(['ref stripe pi_1', 'ref stripe ch_1']);
  });

  it('is ours when the request that caused it carried an operation id the ledger holds as its idempotency key (its answer not recorded yet)', async () => {
    const lookup = ledger(['op-cancel-1']);
    expect(await isUnmarkedItemOurs(unmarked({ requestKey: 'op-cancel-1' }), 'stripe', lookup)).toBe(true);
    expect(lookup.asked).toEqual(['ref stripe pi_1', 'op op-cancel-1']);
  });

  it('is not ours when neither is known (another integration of the account), and asks nothing about a key of no operation id shape', async () => {
    expect(await isUnmarkedItemOurs(unmarked({ requestKey: 'stripe-js-key-1' }), 'stripe', ledger(['op-cancel-1']))).toBe(false);
    const lookup = ledger();
    expect(await isUnmarkedItemOurs(unmarked({ references: [], requestKey: 'key with spaces' }), 'stripe', lookup)).toBe(false);
    expect(lookup.asked).toEqual([]);
  });
});

describe('an event told apart by a value written nowhere (eventIdSecret: an Adyen RECURRING_CONTRACT token)', () => {
  const TOKEN = 'M5N7TQ4TG5PFWR50';
  const unkeyed = createHash('sha256').update(TOKEN).digest('hex').slice(0, 16);
  /** The spec's RECURRING_CONTRACT item, as the Adyen gateway reads it. */
  const contract = (): WebhookEvent => {
    const item = {
      eventCode: 'RECURRING_CONTRACT',
      merchantAccountCode: MERCHANT,
      merchantReference: 'opref-token-1',
      originalReference: 'QFQTPCQ8HXSKGK82',
      pspReference: TOKEN,
      amount: { value: 0, currency: 'EUR' },
      success: 'true',
      additionalData: { shopperReference: 'shopper-0042' },
    };
    const [event] = adyenTransformer.parseWebhook(
      Buffer.from(JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] })),
      adyen,
    );
    return event;
  };

  it('is queued under its id and a keyed digest of the value, never an unkeyed one; the former id (unkeyed) only in the verdict, to find a job queued under it', async () => {
    const verdict = await checkWebhookItem(contract(), 'adyen', adyen, ledger(), KEYS);
    if (verdict.kind !== 'queue') throw new Error(`skipped: ${verdict.reason}`);
    expect(verdict.data.eventId).toMatch(/^QFQTPCQ8HXSKGK82:RECURRING_CONTRACT:true:[0-9a-f]{16}$/);
    expect(verdict.data.eventId).not.toContain(unkeyed);
    // Keyed: another bus secret, another digest.
    const other = await checkWebhookItem(contract(), 'adyen', adyen, ledger(), webhookDigestKeys('another-bus-secret-for-the-tests'));
    expect(other.kind === 'queue' && other.data.eventId).not.toBe(verdict.data.eventId);
    // What releases before this one queued it under: found by the route, never written in the job.
    expect(verdict.formerJobEventId).toBe(`QFQTPCQ8HXSKGK82:RECURRING_CONTRACT:true:${unkeyed}`);
    expect(JSON.stringify({ ...verdict.data, storedToken: undefined })).not.toContain(unkeyed);
    expect(JSON.stringify({ ...verdict.data, storedToken: undefined })).not.toContain(TOKEN);
  });

  it('logs a skip under the same keyed id', async () => {
    const event = { ...contract(), operationId: 'Order 42 / shop' };
    const verdict = await checkWebhookItem(event, 'adyen', adyen, ledger(), KEYS);
    expect(verdict).toMatchObject({ kind: 'skip', reason: 'not_our_operation' });
    expect(verdict.kind === 'skip' && verdict.eventKey).toMatch(/^QFQTPCQ8HXSKGK82:RECURRING_CONTRACT:true:[0-9a-f]{16}$/);
    expect(verdict.kind === 'skip' && verdict.eventKey).not.toContain(unkeyed);
  });
});

describe("a stored method's id that reads as a card number (storedTokenIds: Adyen's storedPaymentMethodId / recurringDetailReference)", () => {
  /** 16 digits starting with 5 and passing the Luhn check: a card number to every scan, as some of Adyen's all-digit ids are. */
  const TOKEN = '5300912374650184';
  /** A RECURRING_CONTRACT storing `token` for the payment QFQTPCQ8HXSKGK82, filed under `shopper`, as the Adyen gateway reads it. */
  const contract = (token = TOKEN, shopper = 'shopper-0042', merchantReference = 'opref-token-1'): WebhookEvent => {
    const item = {
      eventCode: 'RECURRING_CONTRACT',
      merchantAccountCode: MERCHANT,
      merchantReference,
      originalReference: 'QFQTPCQ8HXSKGK82',
      pspReference: token,
      amount: { value: 0, currency: 'EUR' },
      success: 'true',
      additionalData: { shopperReference: shopper, 'recurring.recurringDetailReference': token },
    };
    const [event] = adyenTransformer.parseWebhook(
      Buffer.from(JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] })),
      adyen,
    );
    return event;
  };
  /** An AUTHORISATION of payment QFQTPCQ8HXSKGK82 that stored its method as `token` (the tokenization.* additionalData). */
  const storing = (token = TOKEN, merchantReference = 'opref-token-1'): WebhookEvent => {
    const item = {
      eventCode: 'AUTHORISATION',
      merchantAccountCode: MERCHANT,
      merchantReference,
      pspReference: 'QFQTPCQ8HXSKGK82',
      amount: { value: 5000, currency: 'EUR' },
      success: 'true',
      additionalData: { 'tokenization.storedPaymentMethodId': token, 'tokenization.shopperReference': 'shopper-0042' },
    };
    const [event] = adyenTransformer.parseWebhook(
      Buffer.from(JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] })),
      adyen,
    );
    return event;
  };

  it('queues the token of an item naming an operation of ours, by its merchant reference or by its payment in the reference index', async () => {
    for (const lookup of [ledger(['opref-token-1']), ledger([], { QFQTPCQ8HXSKGK82: 'opref-token-1' })]) {
      const verdict = await checkWebhookItem(contract(), 'adyen', adyen, lookup, KEYS);
      expect(verdict).toMatchObject({ kind: 'queue', cardLikeToken: true, data: { operationId: 'opref-token-1', storedToken: `shopper-0042:${TOKEN}` } });
      // The id is the token's only: no event id, reference or other field of the job carries it.
      expect(JSON.stringify({ ...(verdict.kind === 'queue' ? verdict.data : {}), storedToken: undefined })).not.toContain(TOKEN);
    }
    const authorised = await checkWebhookItem(storing(), 'adyen', adyen, ledger(['opref-token-1']), KEYS);
    expect(authorised).toMatchObject({ kind: 'queue', cardLikeToken: true, data: { outcome: { status: 'SUCCESS', storedToken: `shopper-0042:${TOKEN}` } } });
  });

  it('skips, as card_number, the same on an item naming nothing of ours, naming the field and its keyed digest, never the token', async () => {
    const lookup = ledger();
    const verdict = await checkWebhookItem(contract(), 'adyen', adyen, lookup, KEYS);
    expect(verdict).toMatchObject({ kind: 'skip', reason: 'card_number', field: 'storedToken' });
    expect(verdict.kind === 'skip' && verdict.digest.hex).toBe(webhookValueDigest(KEYS, `shopper-0042:${TOKEN}`).hex);
    expect(JSON.stringify(verdict)).not.toContain(TOKEN);
    expect(lookup.asked).toEqual(['op opref-token-1', 'ref adyen QFQTPCQ8HXSKGK82']);
    const authorised = await checkWebhookItem(storing(TOKEN, 'opref-unknown'), 'adyen', adyen, ledger(), KEYS);
    expect(authorised).toMatchObject({ kind: 'skip', reason: 'card_number', field: 'outcome.storedToken' });
  });

  it('still skips an item of ours holding a card number beside the token (a shopper reference that is a card number)', async () => {
    const verdict = await checkWebhookItem(contract(TOKEN, PAN), 'adyen', adyen, ledger(['opref-token-1']), KEYS);
    expect(verdict).toMatchObject({ kind: 'skip', reason: 'card_number', field: 'storedToken' });
    expect(JSON.stringify(verdict)).not.toContain(PAN);
  });

  it('asks the ledger nothing about a token that reads as no card number, and marks nothing', async () => {
    const lookup = ledger();
    const verdict = await checkWebhookItem(contract('M5N7TQ4TG5PFWR50'), 'adyen', adyen, lookup, KEYS);
    expect(verdict).toMatchObject({ kind: 'queue', data: { storedToken: 'shopper-0042:M5N7TQ4TG5PFWR50' } });
    expect(verdict.kind === 'queue' && verdict.cardLikeToken).toBeUndefined();
    expect(lookup.asked).toEqual([]);
  });

  it('keeps an event id holding the token in clear under its keyed digest (an event id is logged; the token is not)', async () => {
    const event = { ...storing(), eventId: `evt_${TOKEN}` };
    const verdict = await checkWebhookItem(event, 'adyen', adyen, ledger(['opref-token-1']), KEYS);
    expect(verdict).toMatchObject({ kind: 'queue', data: { eventId: expect.stringMatching(/^hmac:[0-9a-f]{64}$/) } });
  });
});

describe("a network transaction id that reads as a card number (outcome.networkTransactionId: Adyen's AUTHORISATION additionalData.networkTxReference)", () => {
  /** 15 digits passing the Luhn check, starting with 4: a card number to every scan, as a Visa Transaction Identifier may be. */
  const NETWORK_ID = '483719265038415';
  /** An AUTHORISATION of payment QFQTPCQ8HXSKGK82 naming the scheme's id, as the Adyen gateway reads it. */
  const authorised = (merchantReference = 'opref-nti-1', networkTxReference = NETWORK_ID): WebhookEvent => {
    const item = {
      eventCode: 'AUTHORISATION',
      merchantAccountCode: MERCHANT,
      merchantReference,
      pspReference: 'QFQTPCQ8HXSKGK82',
      amount: { value: 5000, currency: 'EUR' },
      success: 'true',
      additionalData: { networkTxReference },
    };
    const [event] = adyenTransformer.parseWebhook(
      Buffer.from(JSON.stringify({ live: 'false', notificationItems: [{ NotificationRequestItem: item }] })),
      adyen,
    );
    return event;
  };

  it('queues the id whole on an item naming an operation of ours, by its merchant reference or by its payment in the reference index', async () => {
    for (const lookup of [ledger(['opref-nti-1']), ledger([], { QFQTPCQ8HXSKGK82: 'opref-nti-1' })]) {
      const verdict = await checkWebhookItem(authorised(), 'adyen', adyen, lookup, KEYS);
      expect(verdict).toMatchObject({ kind: 'queue', data: { operationId: 'opref-nti-1', outcome: { status: 'SUCCESS', networkTransactionId: NETWORK_ID } } });
      // No stored token: the route's card-like token line and metric are not for it.
      expect(verdict).not.toHaveProperty('cardLikeToken');
      // Only the outcome's own field carries it.
      const data = verdict.kind === 'queue' ? verdict.data : undefined;
      expect(JSON.stringify({ ...data, outcome: { ...data?.outcome, networkTransactionId: undefined } })).not.toContain(NETWORK_ID);
    }
  });

  it("takes the id as the PSP's in its own field only: a card number elsewhere in the item that holds the same digits still skips it", async () => {
    // 16 digits passing the Luhn check, the id's 15 and one more: a card number, not the id.
    const pan = `${NETWORK_ID}5`;
    const event = { ...authorised(), account: pan };
    const verdict = await checkWebhookItem(event, 'adyen', adyen, ledger(['opref-nti-1']), KEYS);
    expect(verdict).toMatchObject({ kind: 'skip', reason: 'card_number', field: 'account' });
    expect(JSON.stringify(verdict)).not.toContain(pan);
  });

  it('skips, as card_number, the same on an item naming nothing of ours, never quoting it; an id that reads as no card number costs no ledger read', async () => {
    const lookup = ledger();
    const verdict = await checkWebhookItem(authorised('opref-unknown'), 'adyen', adyen, lookup, KEYS);
    expect(verdict).toMatchObject({ kind: 'skip', reason: 'card_number', field: 'outcome.networkTransactionId' });
    expect(JSON.stringify(verdict)).not.toContain(NETWORK_ID);
    const plain = ledger();
    expect(await checkWebhookItem(authorised('opref-unknown', '777718270854480'), 'adyen', adyen, plain, KEYS)).toMatchObject({
      kind: 'queue',
      data: { outcome: { networkTransactionId: '777718270854480' } },
    });
    expect(plain.asked).toEqual([]);
  });
});
