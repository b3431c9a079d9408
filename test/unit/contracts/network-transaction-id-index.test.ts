import { validateCommandReport } from '../../../src/contracts/command-validator';
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { IssuedTokens, asksIssuedTokenIndex, issuedTokenOf } from '../../../src/ledger/issued-tokens';
import { channelCommand } from '../../support/fixtures';
import { thrownBy } from '../../support/thrown';

const thrown = (fn: () => unknown) => thrownBy(fn, CommandValidationError);

/** A Visa network transaction id as the simulator reports one: 15 digits passing the Luhn check. */
const NTI = '483297510463217';
/** The same shape, never reported. */
const OTHER = '483297510463225';
const SECRET = 'bus-secret-for-network-id-tests-0123456789';

/** A merchant-initiated sale of a stored card quoting `id` as the first payment's network transaction id. */
const mit = (id: string, gatewayKey = 'tok_stored') =>
  channelCommand(
    'sale',
    {},
    {
      gateway: 'cybersource',
      gateway_key: gatewayKey,
      payment_method: { type: 'stored_card' },
      recurring: { model: 'unscheduled', network_transaction_id: id },
    },
  );

function fakeLedger() {
  const entries = new Map<string, string>();
  return {
    entries,
    indexIssuedToken: async (digest: string, gateway: string) => void entries.set(digest, gateway),
    issuedTokenGateway: async (digest: string) => entries.get(digest) ?? null,
    dropIssuedToken: async (digest: string) => entries.delete(digest),
  };
}

describe('a card-like network transaction id the bridge reported (the issued-token index)', () => {
  it('is noted by its keyed digest (never the id), apart from stored tokens, and only when it reads as a card number', async () => {
    const ledger = fakeLedger();
    const tokens = new IssuedTokens(ledger, { secret: SECRET, secretPrevious: '' });
    expect(await tokens.recordNetworkId('MCC0001AB0101', 'adyen')).toBe(false);
    expect(await tokens.recordNetworkId(NTI, 'cybersource')).toBe(true);
    expect(JSON.stringify([...ledger.entries])).not.toContain(NTI);
    expect(await tokens.networkIdGatewayOf(NTI)).toBe('cybersource');
    expect(await tokens.networkIdGatewayOf(OTHER)).toBeNull();
    // Not a stored token: the same digits in payment.gateway_key are not let through by it.
    expect(await tokens.gatewayOf(NTI)).toBeNull();
  });

  it('is accepted back whole in payment.recurring.network_transaction_id; the same shape never reported is still refused', async () => {
    const tokens = new IssuedTokens(fakeLedger(), { secret: SECRET, secretPrevious: '' });
    await tokens.recordNetworkId(NTI, 'cybersource');
    expect(asksIssuedTokenIndex(mit(NTI))).toBe(true);
    const lookup = await issuedTokenOf(tokens, mit(NTI));
    const { command, issued } = validateCommandReport(mit(NTI), undefined, lookup.values);
    expect(command.payment.recurring?.network_transaction_id).toBe(NTI);
    expect(issued).toEqual(['payment.recurring.network_transaction_id']);
    const never = await issuedTokenOf(tokens, mit(OTHER));
    expect(thrown(() => validateCommandReport(mit(OTHER), undefined, never.values))).toMatchObject({
      code: 'CARD_DATA_REJECTED',
      field: 'payment.recurring.network_transaction_id',
    });
  });

  it('lets the reported id through in its own field only: as payment.gateway_key, or in free text, it is card data as ever', async () => {
    const tokens = new IssuedTokens(fakeLedger(), { secret: SECRET, secretPrevious: '' });
    await tokens.recordNetworkId(NTI, 'cybersource');
    const asKey = mit(NTI, NTI);
    expect(thrown(() => validateCommandReport(asKey, undefined, undefined))).toMatchObject({ code: 'CARD_DATA_REJECTED' });
    const lookup = await issuedTokenOf(tokens, asKey);
    expect(thrown(() => validateCommandReport(asKey, undefined, lookup.values))).toMatchObject({ code: 'CARD_DATA_REJECTED', field: 'payment.gateway_key' });
  });
});
