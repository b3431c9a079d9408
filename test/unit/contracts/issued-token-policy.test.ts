import { validateCommandReport } from '../../../src/contracts/command-validator';
import { ISSUED_TOKEN_FIELDS, cardLikeTokenOf, holdsCardNumber } from '../../../src/contracts/card-data-policy';
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { DependencyUnavailableError } from '../../../src/errors/dependency-unavailable-error';
import { IssuedTokens, issuedTokenOf } from '../../../src/ledger/issued-tokens';
import { channelCommand } from '../../support/fixtures';
import { thrownBy } from '../../support/thrown';

const thrown = (fn: () => unknown) => thrownBy(fn, CommandValidationError);

/** An Adyen stored token whose storedPaymentMethodId (16 digits, first 5) passes the Luhn check. */
const TOKEN = 'shopper-0042:5300912374650184';
const PAN = '4111111111111111';

/** A sale charging the stored token in `gateway_key`, with `payment` fields overridden. */
const charge = (gatewayKey: string, payment: Record<string, unknown> = {}) => channelCommand('sale', {}, { gateway_key: gatewayKey, ...payment });

describe('a card-like stored token in a token field (the issued-token index)', () => {
  it('is a card number to the card scan: what the index is for', () => {
    expect(holdsCardNumber(TOKEN)).toBe(true);
    expect(ISSUED_TOKEN_FIELDS).toEqual(['payment.gateway_key', 'payment.recurring.network_transaction_id']);
  });

  it('is accepted in payment.gateway_key whole (not masked) when the bridge issued it', () => {
    const { command, issued, masked } = validateCommandReport(charge(TOKEN), undefined, new Set([TOKEN]));
    expect(command.payment.gateway_key).toBe(TOKEN);
    expect(issued).toEqual(['payment.gateway_key']);
    expect(masked).toEqual([]);
  });

  it('is refused CARD_DATA_REJECTED naming the field when the bridge did not issue it, as before the index', () => {
    const err = thrown(() => validateCommandReport(charge(TOKEN)));
    expect(err).toBeInstanceOf(CommandValidationError);
    expect(err).toMatchObject({ code: 'CARD_DATA_REJECTED', field: 'payment.gateway_key' });
    expect(thrown(() => validateCommandReport(charge(TOKEN), undefined, new Set(['shopper-0042:4000000000000002'])))).toMatchObject({
      code: 'CARD_DATA_REJECTED',
      field: 'payment.gateway_key',
    });
  });

  it('a real card number in payment.gateway_key is refused: the index never holds one', () => {
    expect(thrown(() => validateCommandReport(charge(PAN), undefined, new Set()))).toMatchObject({ code: 'CARD_DATA_REJECTED', field: 'payment.gateway_key' });
  });

  it('the issued value lets nothing else through: in another structured field, or beside the token, it is refused', () => {
    const issued = new Set([TOKEN]);
    expect(thrown(() => validateCommandReport(charge('tok_ordinary', { order_id: TOKEN }), undefined, issued))).toMatchObject({
      code: 'CARD_DATA_REJECTED',
      field: 'payment.order_id',
    });
    expect(thrown(() => validateCommandReport(charge(TOKEN, { method_details: { method: 'card', note: PAN } }), undefined, issued))).toMatchObject({
      code: 'CARD_DATA_REJECTED',
    });
  });

  it('in free text the issued token is masked as any card number (free text is no token field)', () => {
    const { command } = validateCommandReport(charge('tok_ordinary', { custom_attributes: { note: TOKEN } }), undefined, new Set([TOKEN]));
    expect(JSON.stringify(command)).not.toContain('5300912374650184');
  });

  it('cardLikeTokenOf names only a card-like gateway_key: the ordinary command asks the index nothing', async () => {
    expect(cardLikeTokenOf(charge('tok_ordinary'))).toBeUndefined();
    expect(cardLikeTokenOf(charge(TOKEN))).toBe(TOKEN);
    expect(cardLikeTokenOf(charge('tok_ordinary', { order_id: TOKEN }))).toBeUndefined();
    const gatewayOf = jest.fn(async () => 'adyen');
    expect(await issuedTokenOf({ gatewayOf }, charge('tok_ordinary'))).toEqual({});
    expect(gatewayOf).not.toHaveBeenCalled();
    expect(await issuedTokenOf({ gatewayOf }, charge(TOKEN, { gateway: 'adyen' }))).toEqual({ values: new Set([TOKEN]), gateway: 'adyen' });
    expect(gatewayOf).toHaveBeenCalledTimes(1);
  });
});

describe('IssuedTokens', () => {
  /** A ledger's issued-token entries in a map, by digest. */
  function fakeLedger() {
    const entries = new Map<string, string>();
    return {
      entries,
      indexIssuedToken: async (digest: string, gateway: string) => void entries.set(digest, gateway),
      issuedTokenGateway: async (digest: string) => entries.get(digest) ?? null,
      dropIssuedToken: async (digest: string) => entries.delete(digest),
    };
  }
  const SECRET = 'bus-secret-for-issued-token-tests-0123456789';

  it('notes a card-like token by its keyed digest (never the token), and no other token', async () => {
    const ledger = fakeLedger();
    const tokens = new IssuedTokens(ledger, { secret: SECRET, secretPrevious: '' });
    expect(await tokens.record('shopper-0042:ABCDEFGHIJKLMNOP', 'adyen')).toBe(false);
    expect(await tokens.record(TOKEN, 'adyen')).toBe(true);
    expect([...ledger.entries]).toEqual([[tokens.digest(TOKEN), 'adyen']]);
    expect(tokens.digest(TOKEN)).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify([...ledger.entries])).not.toContain('5300912374650184');
    expect(await tokens.gatewayOf(TOKEN)).toBe('adyen');
    expect(await tokens.gatewayOf('shopper-0042:4000000000000002')).toBeNull();
    // Keyed: another secret gives another digest.
    expect(new IssuedTokens(ledger, { secret: `${SECRET}x`, secretPrevious: '' }).digest(TOKEN)).not.toBe(tokens.digest(TOKEN));
  });

  it('during a secret rotation finds an entry under the previous secret and writes it again under the current one', async () => {
    const ledger = fakeLedger();
    await new IssuedTokens(ledger, { secret: SECRET, secretPrevious: '' }).record(TOKEN, 'adyen');
    const rotated = new IssuedTokens(ledger, { secret: 'the-next-bus-secret-0123456789abcdef', secretPrevious: SECRET });
    expect(await rotated.gatewayOf(TOKEN)).toBe('adyen');
    expect(ledger.entries.get(rotated.digest(TOKEN))).toBe('adyen');
    expect(await rotated.drop(TOKEN)).toBe(true);
    expect(ledger.entries.size).toBe(0);
  });

  it('looks a page of tokens up in one batched read, under both secrets during a rotation, writing nothing', async () => {
    const ledger = fakeLedger();
    const other = 'shopper-0043:4000000000000002';
    await new IssuedTokens(ledger, { secret: SECRET, secretPrevious: '' }).record(TOKEN, 'adyen');
    const rotated = new IssuedTokens(ledger, { secret: 'the-next-bus-secret-0123456789abcdef', secretPrevious: SECRET });
    await rotated.record(other, 'stripe');
    const asked: string[][] = [];
    const batched = Object.assign(ledger, {
      issuedTokenGateways: async (digests: readonly string[]) => (asked.push([...digests]), digests.map((d) => ledger.entries.get(d) ?? null)),
    });
    const before = new Map(ledger.entries);
    const tokens = new IssuedTokens(batched, { secret: 'the-next-bus-secret-0123456789abcdef', secretPrevious: SECRET });
    expect(await tokens.gatewaysOf([TOKEN, 'shopper-0044:5555555555554444', other])).toEqual(['adyen', null, 'stripe']);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toHaveLength(6);
    expect(ledger.entries).toEqual(before);
    expect(await tokens.gatewaysOf([])).toEqual([]);
    expect(asked).toHaveLength(1);
  });
});

describe('an issued token is let through only for a command of its own vault', () => {
  const gateways = {
    adyen: { type: 'adyen', apiKey: 'k-adyen', merchantAccount: 'Acme' },
    'adyen-failover': { type: 'adyen', apiKey: 'k-adyen', merchantAccount: 'Acme' },
    'adyen-other': { type: 'adyen', apiKey: 'k-other', merchantAccount: 'Other' },
    stripe: { type: 'stripe', apiKey: 'sk_test_x', merchantAccount: '' },
  } as unknown as Parameters<typeof issuedTokenOf>[2];
  const gatewayOf = async () => 'adyen';

  it('a token the bridge issued at Adyen, sent in a command naming Stripe or another Adyen account, is not let through', async () => {
    expect(await issuedTokenOf({ gatewayOf }, charge(TOKEN, { gateway: 'stripe' }), gateways)).toEqual({});
    expect(await issuedTokenOf({ gatewayOf }, charge(TOKEN, { gateway: 'adyen-other' }), gateways)).toEqual({});
    expect(thrown(() => validateCommandReport(charge(TOKEN, { gateway: 'stripe' }), undefined, undefined))).toMatchObject({ code: 'CARD_DATA_REJECTED' });
  });

  it('is let through for its own gateway and an entry of its vault', async () => {
    expect(await issuedTokenOf({ gatewayOf }, charge(TOKEN, { gateway: 'adyen' }), gateways)).toEqual({ values: new Set([TOKEN]), gateway: 'adyen' });
    expect(await issuedTokenOf({ gatewayOf }, charge(TOKEN, { gateway: 'adyen-failover' }), gateways)).toEqual({ values: new Set([TOKEN]), gateway: 'adyen' });
  });
});

describe('IssuedTokens with redis.replica_acks', () => {
  /** A ledger whose entry writes are acknowledged by `acks` replicas; its calls in order. */
  function ledgerWith(acks: number) {
    const steps: string[] = [];
    return {
      steps,
      indexIssuedToken: async () => void steps.push('set'),
      issuedTokenGateway: async () => null,
      dropIssuedToken: async () => false,
      issuedTokenAcknowledged: async (_digest: string, replicas: number, timeoutMs: number) => {
        steps.push(`wait ${replicas} ${timeoutMs}`);
        return { present: true, acks };
      },
    };
  }
  const SECRETS = { secret: 'bus-secret-for-issued-token-tests-0123456789', secretPrevious: '' };
  const ACKS = { replicaAcks: { replicas: 1, timeoutMs: 50 } };

  it('an entry no replica acknowledged fails the recording as a Redis outage (the record never gets the token), naming no token', async () => {
    const ledger = ledgerWith(0);
    const err = await new IssuedTokens(ledger, SECRETS, ACKS).record(TOKEN, 'adyen').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DependencyUnavailableError);
    expect(String((err as Error).message)).not.toContain('5300912374650184');
    expect(ledger.steps).toEqual(['set', 'wait 1 50']);
  });

  it('an acknowledged entry is recorded; without the setting there is no wait', async () => {
    const ledger = ledgerWith(1);
    expect(await new IssuedTokens(ledger, SECRETS, ACKS).record(TOKEN, 'adyen')).toBe(true);
    expect(await new IssuedTokens(ledger, SECRETS, {}).record(TOKEN, 'adyen')).toBe(true);
    expect(ledger.steps).toEqual(['set', 'wait 1 50', 'set']);
  });
});
