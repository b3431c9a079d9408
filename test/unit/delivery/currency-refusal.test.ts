import { currencyRefusal } from '../../../src/delivery/operation-context';
import { OperationRecord } from '../../../src/ledger/ledger';
import { draftRecord } from '../../../src/ledger/record-fields';
import { channelCommand } from '../../support/fixtures';

function op(command: OperationRecord['command'], currency: string, extra: Partial<OperationRecord> = {}): OperationRecord {
  const c = channelCommand(command, {}, { amount: 1000, currency });
  return { ...draftRecord(c.payment.operation_reference!, c, 0), ...extra };
}

describe('currencyRefusal', () => {
  it('refuses a capture in another currency than the one the PSP confirmed with its amount', () => {
    const auth = op('authorize', 'USD', { state: 'SUCCEEDED', confirmedAmount: 1000, confirmedCurrency: 'EUR' });
    expect(currencyRefusal(op('capture', 'USD'), auth)).toMatchObject({ field: 'payment.currency', detail: { authorization_currency: 'EUR' } });
    expect(currencyRefusal(op('capture', 'EUR'), auth)).toBeNull();
  });

  it('a confirmed currency whose amount could not be read does not stand for the authorization: the asked currency does', () => {
    const auth = op('authorize', 'USD', { state: 'SUCCEEDED', confirmedCurrency: 'EUR' });
    expect(currencyRefusal(op('capture', 'USD'), auth)).toBeNull();
    expect(currencyRefusal(op('capture', 'EUR'), auth)).toMatchObject({ detail: { authorization_currency: 'USD' } });
  });
});
