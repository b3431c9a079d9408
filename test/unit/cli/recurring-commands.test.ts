/**
 * `payment-bridge recurring create --attribute name=value` (repeatable) gives every cycle its custom
 * attributes: what a gateway needs to charge the stored credential without the customer (Stripe
 * `stripe_customer`, Adyen `shopper_reference` for a bare token), which schedule creation now requires.
 */
import { PassThrough } from 'node:stream';
import { CreateFlags, definitionOfFlags, recurringCreate } from '../../../src/cli/recurring-commands';
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import type { OpsContext } from '../../../src/ops/ops-context';
import { testConfig } from '../../support/test-config';
import { thrownBy } from '../../support/thrown';

const FLAGS: CreateFlags = {
  id: 'sub-cli-1',
  gateway: 'stripe',
  merchant: 'acme',
  token: 'pm_1Nxyz',
  amount: '1500',
  currency: 'EUR',
  start: '2030-01-31T09:00:00Z',
  every: '1 month',
};

describe('recurring create --attribute', () => {
  it('gives the schedule a custom attribute per --attribute name=value', () => {
    expect(definitionOfFlags({ ...FLAGS, attribute: ['stripe_customer=cus_Q1', 'plan = gold '] }).custom_attributes).toEqual({
      stripe_customer: 'cus_Q1',
      plan: 'gold',
    });
    expect(definitionOfFlags({ ...FLAGS, attribute: [] })).not.toHaveProperty('custom_attributes');
  });

  it('refuses one that is not name=value, naming schedule.custom_attributes', () => {
    for (const bad of ['stripe_customer', '=cus_Q1']) {
      expect(thrownBy(() => definitionOfFlags({ ...FLAGS, attribute: [bad] }), CommandValidationError).field).toBe('schedule.custom_attributes');
    }
  });

  it('refuses a Stripe schedule without --attribute stripe_customer=…, the field and reason on stderr, exit 2, audit-logged', async () => {
    const audited: unknown[] = [];
    const ctx = {
      config: testConfig({ gateways: { stripe: { type: 'stripe', base_url: 'https://api.stripe.com', api_key: 'sk_test_recurring_0123456789' } } }),
      redis: {},
      audit: { record: async (entry: unknown) => void audited.push(entry) },
    } as unknown as OpsContext;
    const err = new PassThrough();
    const chunks: Buffer[] = [];
    err.on('data', (c: Buffer) => chunks.push(c));
    expect(await recurringCreate(ctx, { out: new PassThrough(), err, actor: 'tester@ci' }, FLAGS)).toBe(2);
    expect(Buffer.concat(chunks).toString('utf8')).toMatch(/^payment-bridge recurring create: schedule\.custom_attributes\.stripe_customer is required/);
    expect(audited).toEqual([
      expect.objectContaining({
        action: 'recurring.create',
        outcome: 'refused',
        detail: expect.objectContaining({ field: 'schedule.custom_attributes.stripe_customer' }),
      }),
    ]);
  });
});
