import { buildConfig } from '../../../src/config/load-config';
import { earlierSameAccountAttempt } from '../../../src/webhooks/earlier-attempt';
import { minimalParameters } from '../../support/minimal-parameters';

const STRIPE_HOOK = 'whsec_sameAccountTest0123456789abcdef';
const stripe = (key: string) => ({ type: 'stripe', base_url: 'https://api.stripe.com', api_key: key, webhook_secret: STRIPE_HOOK });
const KEY = 'sk_test_same_account_0123456789';

const gateways = buildConfig(
  minimalParameters({ gateways: { a: stripe(KEY), b: stripe(KEY), c: stripe(KEY), other: stripe('sk_test_other_account_0123456789') } }),
  {},
).gateways;

/** An authorization named to `from`, failed over along `steps`, FAILED at the last one with `reference`. */
function failedOver(steps: Array<[string, string]>, reference: string | null = 'pi_b') {
  const at = steps[steps.length - 1][1];
  return {
    payment: { gateway: steps[0][0] } as never,
    routing: {
      gateway: at,
      requested: steps[0][0],
      candidates: [steps[0][0], ...steps.map(([, to]) => to)],
      index: steps.length,
      decisions: [],
      failovers: steps.map(([from, to]) => ({ from, to, trigger: 'declined:card_declined', at: 1 })),
    },
    state: 'FAILED' as const,
    ...(reference !== null ? { gatewayReference: reference } : {}),
  };
}

const success = (gatewayReference?: string) => ({ status: 'SUCCESS' as const, ...(gatewayReference !== undefined ? { gatewayReference } : {}) });

describe('earlierSameAccountAttempt', () => {
  test('a success of another PSP object than the attempt at the entry it ended at is the attempt at the entry of its account it left', () => {
    expect(earlierSameAccountAttempt(failedOver([['a', 'b']]), 'b', success('pi_a'), gateways)).toBe('a');
  });

  test("the current attempt's own object, or one that cannot be told apart, is not attributed (first reading stands)", () => {
    expect(earlierSameAccountAttempt(failedOver([['a', 'b']]), 'b', success('pi_b'), gateways)).toBeNull();
    expect(earlierSameAccountAttempt({ ...failedOver([['a', 'b']]), newGatewayKey: 'pi_new' }, 'b', success('pi_new'), gateways)).toBeNull();
    expect(earlierSameAccountAttempt(failedOver([['a', 'b']]), 'b', success(), gateways)).toBeNull();
    expect(earlierSameAccountAttempt(failedOver([['a', 'b']], null), 'b', success('pi_a'), gateways)).toBeNull();
  });

  test('entries of different accounts, and two entries of the account left, keep the behaviour before', () => {
    expect(earlierSameAccountAttempt(failedOver([['other', 'b']]), 'b', success('pi_a'), gateways)).toBeNull();
    expect(
      earlierSameAccountAttempt(
        failedOver([
          ['a', 'c'],
          ['c', 'b'],
        ]),
        'b',
        success('pi_a'),
        gateways,
      ),
    ).toBeNull();
  });

  test('only a success heard at the entry a FAILED operation ended at', () => {
    expect(earlierSameAccountAttempt({ ...failedOver([['a', 'b']]), state: 'SUCCEEDED' }, 'b', success('pi_a'), gateways)).toBeNull();
    expect(earlierSameAccountAttempt(failedOver([['a', 'b']]), 'b', { status: 'FAIL' }, gateways)).toBeNull();
    expect(earlierSameAccountAttempt(failedOver([['a', 'b']]), 'a', success('pi_a'), gateways)).toBeNull();
  });
});
