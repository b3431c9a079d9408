import { GatewayConfig } from '../../../src/config/config';
import { OperationRecord, draftRecord } from '../../../src/ledger/record-fields';
import { configuredAccount, reportScopeMismatch, scopeMismatch } from '../../../src/webhooks/outcome-scope';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';

function gateway(name: string, type: GatewayConfig['type'], account: { merchantAccount?: string; merchantId?: string } = {}): GatewayConfig {
  return {
    name,
    type,
    baseUrl: 'https://psp.example',
    apiKey: '',
    webhookSecret: '',
    webhookSecretPrevious: '',
    merchantAccount: account.merchantAccount ?? '',
    merchantId: account.merchantId ?? '',
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
}

function op(
  command: 'authorize' | 'capture' | 'refund' | 'cancel' | 'validate',
  gatewayName: string,
  amount: number,
  state: OperationRecord['state'] = 'PENDING',
): OperationRecord {
  const c = channelCommand(command, {}, { gateway: gatewayName, amount, currency: 'EUR' });
  return { ...draftRecord(c.payment.operation_reference!, c, Date.now()), state };
}

const success = (amount?: number, currency?: string) => ({
  status: 'SUCCESS' as const,
  gatewayStatus: 'ok',
  ...(amount !== undefined ? { amount } : {}),
  ...(currency ? { currency } : {}),
});

describe('whose outcome: scopeMismatch', () => {
  const adyen = gateway('adyen', 'adyen', { merchantAccount: 'AcmeEU' });
  const cybs = gateway('cybersource', 'cybersource', { merchantId: 'acme_eu' });
  const stripe = gateway('stripe', 'stripe');

  it('refuses an outcome that arrived on another gateway than the operation was routed to', () => {
    expect(scopeMismatch(op('authorize', 'stripe', 1000), { gateway: 'adyen', outcome: success(1000) }, adyen)).toBe('gateway');
  });

  it('accepts an outcome of a gateway the operation failed over from (its earlier attempt), still checking that gateway’s account', () => {
    const moved: OperationRecord = {
      ...op('authorize', 'adyen', 1000),
      routing: {
        gateway: 'stripe',
        requested: 'adyen',
        candidates: ['adyen', 'stripe'],
        index: 1,
        decisions: [],
        failovers: [{ from: 'adyen', to: 'stripe', trigger: 'inquiry_not_found', at: 1 }],
      },
    };
    // Not this operation's outcome (it is recorded as the earlier attempt's), so its amount is not compared.
    expect(scopeMismatch(moved, { gateway: 'adyen', account: 'AcmeEU', outcome: success(999) }, adyen)).toBeNull();
    expect(scopeMismatch(moved, { gateway: 'adyen', account: 'OtherMerchant', outcome: success(1000) }, adyen)).toBe('account');
    expect(scopeMismatch(moved, { gateway: 'cybersource', outcome: success(1000) }, cybs)).toBe('gateway');
    // Routed to stripe by a rule without any failover: adyen was never tried.
    const routed: OperationRecord = { ...moved, routing: { ...moved.routing!, failovers: undefined } };
    expect(scopeMismatch(routed, { gateway: 'adyen', account: 'AcmeEU', outcome: success(1000) }, adyen)).toBe('gateway');
  });

  it('refuses, on the endpoint of a gateway the operation failed over from, an outcome about the PSP object its current attempt holds (two gateway entries on one PSP account)', () => {
    const moved: OperationRecord = {
      ...op('authorize', 'stripe_eu', 1000),
      gatewayReference: 'pi_current',
      routing: {
        gateway: 'stripe_backup',
        requested: 'stripe_eu',
        candidates: ['stripe_eu', 'stripe_backup'],
        index: 1,
        decisions: [],
        failovers: [{ from: 'stripe_eu', to: 'stripe_backup', trigger: 'not_sent', at: 1 }],
      },
    };
    const earlierEndpoint = gateway('stripe_eu', 'stripe');
    expect(scopeMismatch(moved, { gateway: 'stripe_eu', outcome: { ...success(1000), gatewayReference: 'pi_current' } }, earlierEndpoint)).toBe('gateway');
    // The earlier attempt's own object is still its fact.
    expect(scopeMismatch(moved, { gateway: 'stripe_eu', outcome: { ...success(1000), gatewayReference: 'pi_earlier' } }, earlierEndpoint)).toBeNull();
  });

  it('refuses an outcome naming another PSP account than the gateway is configured with', () => {
    expect(configuredAccount(adyen)).toBe('AcmeEU');
    expect(configuredAccount(cybs)).toBe('acme_eu');
    expect(scopeMismatch(op('authorize', 'adyen', 1000), { gateway: 'adyen', account: 'OtherMerchant', outcome: success(1000) }, adyen)).toBe('account');
    expect(scopeMismatch(op('authorize', 'cybersource', 1000), { gateway: 'cybersource', account: 'other_org', outcome: success(1000) }, cybs)).toBe('account');
    // A Connect event of a connected account, on a platform integration.
    expect(scopeMismatch(op('authorize', 'stripe', 1000), { gateway: 'stripe', account: 'acct_1Other', outcome: success(1000) }, stripe)).toBe('account');
    expect(scopeMismatch(op('authorize', 'stripe', 1000), { gateway: 'stripe', account: '', outcome: success(1000) }, stripe)).toBeNull();
    expect(scopeMismatch(op('authorize', 'adyen', 1000), { gateway: 'adyen', account: 'AcmeEU', outcome: success(1000) }, adyen)).toBeNull();
  });

  it("compares with the operation's own amount: a partial capture of 400 on a 1000 authorization is applied, 1000 on it is refused", () => {
    const capture = op('capture', 'adyen', 400);
    expect(scopeMismatch(capture, { gateway: 'adyen', account: 'AcmeEU', outcome: success(400) }, adyen)).toBeNull();
    expect(scopeMismatch(capture, { gateway: 'adyen', account: 'AcmeEU', outcome: success(1000) }, adyen)).toBe('amount');
  });

  it('refuses another currency when the outcome states one, and accepts an outcome that states neither', () => {
    expect(scopeMismatch(op('refund', 'adyen', 500), { gateway: 'adyen', outcome: success(500, 'USD') }, adyen)).toBe('currency');
    expect(scopeMismatch(op('refund', 'adyen', 500), { gateway: 'adyen', outcome: success(500, 'eur') }, adyen)).toBeNull();
    expect(scopeMismatch(op('refund', 'adyen', 500), { gateway: 'adyen', outcome: success() }, adyen)).toBeNull();
  });

  it('does not refuse an amount that differs on a terminal operation (it settles nothing there), but still its gateway', () => {
    const authorized = op('authorize', 'stripe', 1000, 'SUCCEEDED');
    expect(scopeMismatch(authorized, { gateway: 'stripe', account: '', outcome: success(400) }, stripe)).toBeNull();
    expect(scopeMismatch(authorized, { gateway: 'adyen', outcome: success(1000) }, adyen)).toBe('gateway');
  });

  it('accepts a partial approval below the amount asked on an open operation (the synchronous partial authorization’s fact), but not one above it or without the flag', () => {
    const authorization = op('authorize', 'cybersource', 10000);
    const partial = { ...success(6000), partialApproval: true as const };
    expect(scopeMismatch(authorization, { gateway: 'cybersource', account: 'acme_eu', outcome: partial }, cybs)).toBeNull();
    expect(scopeMismatch(authorization, { gateway: 'cybersource', account: 'acme_eu', outcome: { ...partial, amount: 12000 } }, cybs)).toBe('amount');
    expect(scopeMismatch(authorization, { gateway: 'cybersource', account: 'acme_eu', outcome: success(6000) }, cybs)).toBe('amount');
  });

  it.each(['adyen', 'stripe', 'cybersource'] as const)(
    'does not compare the amount of a cancel or a validate on %s (their request carries no amount of the command’s: a CANCELLATION for 5000 settles a cancel sent with 0), but still its account and currency',
    (name) => {
      const endpoint = { adyen, stripe, cybersource: cybs }[name];
      const account = configuredAccount(endpoint);
      for (const command of ['cancel', 'validate'] as const) {
        const pending = op(command, name, 0);
        expect(scopeMismatch(pending, { gateway: name, account, outcome: success(5000, 'EUR') }, endpoint)).toBeNull();
        expect(scopeMismatch(pending, { gateway: name, account, outcome: success(5000, 'USD') }, endpoint)).toBe('currency');
        expect(scopeMismatch(pending, { gateway: name, account: 'someone_else', outcome: success(5000, 'EUR') }, endpoint)).toBe('account');
      }
      // A cancel after a partial capture: the payment's original amount, not what the cancel released.
      expect(scopeMismatch(op('cancel', name, 3000), { gateway: name, account, outcome: success(5000) }, endpoint)).toBeNull();
    },
  );

  it('does not let a partial approval skip the account check', () => {
    const partial = { ...success(6000), partialApproval: true as const };
    expect(scopeMismatch(op('authorize', 'cybersource', 10000), { gateway: 'cybersource', account: 'someone_else', outcome: partial }, cybs)).toBe('account');
  });
});

describe('the security line of a refused outcome', () => {
  it('names the amount and currency the gateway was asked for (a converted one), which the check compared with', () => {
    const { logger, lines } = captureLogger('warn');
    const base = op('authorize', 'sim', 10000);
    const routed: OperationRecord = {
      ...base,
      routing: { gateway: 'sim', requested: 'sim', candidates: ['sim'], index: 0, decisions: [], amount: 11000, currency: 'USD' },
    };
    const arrived = { gateway: 'sim', outcome: success(10500, 'USD') };
    const check = scopeMismatch(routed, arrived, gateway('sim', 'simulator'));
    expect(check).toBe('amount');
    reportScopeMismatch(logger, { gateway: 'sim', check: check!, op: routed, eventId: 'evt_1', arrived });
    expect(JSON.parse(lines.find((l) => l.includes('webhook_scope_mismatch'))!)).toMatchObject({
      webhook_amount: 10500,
      operation_amount: 11000,
      operation_currency: 'USD',
    });
  });
});
