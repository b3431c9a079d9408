import { MoneyRefusalError } from '../../../../src/errors/money-refusal-error';
import { adyenPaymentMethodsRequest } from '../../../../src/gateways/adyen/adyen-payment-methods';
import { body, ctxFor, gateway } from './adyen-test-support';
import { adyenTransformer } from '../../../../src/gateways/adyen';

const methodsAmount = (amount: number, currency: string) => body(adyenPaymentMethodsRequest({ amount, currency }, gateway)).amount;
const paymentsAmount = (amount: number, currency: string) => body(adyenTransformer.buildRequest(ctxFor('authorize', { amount, currency }), gateway)).amount;

describe('Adyen /paymentMethods amount', () => {
  it.each([
    ['ISK', 5000, 500000],
    ['CLP', 1990, 199000],
    ['IDR', 1500000, 15000],
    ['CVE', 25000, 250],
    ['EUR', 1999, 1999],
  ])('sends %s %i ISO minor units as Adyen minor units (%i), the same value /payments sends', (currency, iso, adyen) => {
    expect(methodsAmount(iso, currency)).toEqual({ currency, value: adyen });
    expect(methodsAmount(iso, currency)).toEqual(paymentsAmount(iso, currency));
  });

  it('refuses an IDR amount with sen (Adyen takes whole rupiah) as amount_not_representable, as /payments does', () => {
    let thrown: unknown;
    try {
      adyenPaymentMethodsRequest({ amount: 1500050, currency: 'IDR' }, gateway);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(MoneyRefusalError);
    expect(thrown).toMatchObject({ refusal: 'amount_not_representable' });
  });
});
