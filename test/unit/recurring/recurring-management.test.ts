/**
 * A recurring schedule is refused at its creation, naming the field, when its gateway could charge none of
 * its cycles: each is a merchant-initiated charge of the stored credential, and Stripe charges a stored
 * PaymentMethod without the customer only with its Customer (`custom_attributes.stripe_customer`), Adyen a
 * stored card only with the shopperReference it was stored under. Before, such a schedule was created and
 * every cycle was refused. Cybersource's stored token (and the simulator's) needs nothing more.
 *
 * Nor is a schedule taken on a gateway that does not carry its command (a stored value card gateway carries
 * neither sale nor authorize): delivery would fail every cycle UNSUPPORTED_COMMAND, charging nothing.
 */
import { CommandValidationError } from '../../../src/errors/command-validation-error';
import { ADYEN_SV_SUPPORTED_COMMANDS } from '../../../src/gateways/adyen-stored-value/adyen-stored-value-transformer';
import { scheduleDefinitionOf } from '../../../src/recurring/recurring-management';
import { testConfig } from '../../support/test-config';
import { thrownBy } from '../../support/thrown';

const config = testConfig({
  gateways: {
    stripe: { type: 'stripe', base_url: 'https://api.stripe.com', api_key: 'sk_test_recurring_0123456789' },
    adyen: { type: 'adyen', base_url: 'https://checkout-test.adyen.com/v71', api_key: 'adyen-key-0123456789', merchant_account: 'AcmeEU' },
    cs: { type: 'cybersource', base_url: 'https://apitest.cybersource.com', merchant_id: 'acme', key_id: 'kid-1', shared_secret: 'c2VjcmV0LXNoYXJlZA==' },
    simulator: { type: 'simulator', base_url: 'http://127.0.0.1:9' },
    giftcards: {
      type: 'adyen-stored-value',
      base_url: 'https://pal-test.adyen.com/pal/servlet',
      api_key: 'adyen-sv-key-0123456789',
      merchant_account: 'AcmeEU',
    },
  },
});

function schedule(gateway: string, gatewayKey: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: `sub-${gateway}`,
    gateway,
    gateway_account: 'acme',
    gateway_key: gatewayKey,
    amount: 1500,
    currency: 'EUR',
    start_at: '2030-01-31T09:00:00Z',
    interval: { unit: 'month', count: 1 },
    ...extra,
  };
}

const refusal = (value: Record<string, unknown>) => thrownBy(() => scheduleDefinitionOf(value, config), CommandValidationError);

describe('creating a recurring schedule: what its gateway needs to charge the stored credential', () => {
  it('refuses a Stripe schedule without its Customer, naming schedule.custom_attributes.stripe_customer, and takes it with one', () => {
    const err = refusal(schedule('stripe', 'pm_1Nxyz'));
    expect(err.field).toBe('schedule.custom_attributes.stripe_customer');
    expect(err.reason).toContain('Customer');
    expect(refusal(schedule('stripe', 'pm_1Nxyz', { custom_attributes: { order_note: 'x' } })).field).toBe('schedule.custom_attributes.stripe_customer');
    // As a map or as a name / value pair.
    for (const custom_attributes of [{ stripe_customer: 'cus_Q1' }, { name: 'stripe_customer', value: 'cus_Q1' }]) {
      expect(scheduleDefinitionOf(schedule('stripe', 'pm_1Nxyz', { custom_attributes }), config).custom_attributes).toEqual(custom_attributes);
    }
  });

  it('refuses a Stripe Customer that is no Stripe id, naming it', () => {
    const err = refusal(schedule('stripe', 'pm_1Nxyz', { custom_attributes: { stripe_customer: 'cus 1/../x' } }));
    expect(err.field).toBe('schedule.custom_attributes.stripe_customer');
    expect(err.reason).toBe('is not a Stripe id');
  });

  it('refuses an Adyen schedule whose key names no shopper, naming schedule.custom_attributes.shopper_reference (the key for a short one), and takes one that does', () => {
    expect(refusal(schedule('adyen', '8416039902646530')).field).toBe('schedule.custom_attributes.shopper_reference');
    expect(refusal(schedule('adyen', 'ab:8416039902646530')).field).toBe('schedule.gateway_key');
    expect(refusal(schedule('adyen', '8416039902646530', { custom_attributes: { shopper_reference: 'ab' } })).field).toBe(
      'schedule.custom_attributes.shopper_reference',
    );
    expect(scheduleDefinitionOf(schedule('adyen', 'shopper-0042:8416039902646530'), config).gateway_key).toBe('shopper-0042:8416039902646530');
    expect(scheduleDefinitionOf(schedule('adyen', '8416039902646530', { custom_attributes: { shopper_reference: 'shopper-0042' } }), config).gateway).toBe(
      'adyen',
    );
  });

  it('asks each gateway its own: a bare token refused on Stripe and Adyen is taken on Cybersource and the simulator', () => {
    expect(refusal(schedule('stripe', 'pm_1Nxyz')).field).toBe('schedule.custom_attributes.stripe_customer');
    expect(refusal(schedule('adyen', '8416039902646530')).field).toBe('schedule.custom_attributes.shopper_reference');
    expect(scheduleDefinitionOf(schedule('cs', 'AB695DA801DD1BB6E05341588E0A3BDC'), config).gateway).toBe('cs');
    expect(scheduleDefinitionOf(schedule('simulator', 'pm_card_visa'), config).gateway).toBe('simulator');
  });
});

describe('creating a recurring schedule: a gateway that carries its command', () => {
  it('refuses a schedule on a stored value gateway (it carries no sale nor authorize), naming schedule.gateway and what it carries', () => {
    for (const command of [undefined, 'sale', 'authorize']) {
      const err = refusal(schedule('giftcards', 'shopper-0042:8416039902646530', command ? { command } : {}));
      expect(err.field).toBe('schedule.gateway');
      expect(err.code).toBe('INVALID_PARAMS');
      expect(err.reason).toBe(
        `names a gateway that does not carry ${command ?? 'sale'} (giftcards, type adyen-stored-value, carries ${ADYEN_SV_SUPPORTED_COMMANDS.join(', ')})`,
      );
    }
  });

  it('takes the same schedule on a card gateway, for a sale and an authorization', () => {
    for (const command of [undefined, 'sale', 'authorize']) {
      const definition = schedule('adyen', 'shopper-0042:8416039902646530', command ? { command } : {});
      expect(scheduleDefinitionOf(definition, config).gateway).toBe('adyen');
    }
  });

  it('refuses a command other than sale or authorize before asking the gateway, naming schedule.command', () => {
    // A stored value gateway carries refund: the spelling is what is wrong, not the gateway.
    expect(refusal(schedule('giftcards', 'shopper-0042:8416039902646530', { command: 'refund' })).field).toBe('schedule.command');
    expect(refusal(schedule('adyen', 'shopper-0042:8416039902646530', { command: 'refund' })).field).toBe('schedule.command');
  });
});

describe('creating a recurring schedule: no field it does not know', () => {
  it.each(['constructor', 'toString', 'valueOf', '__proto__', 'hasOwnProperty'])(
    'refuses a member named %s (a name every object inherits), naming it, as any unknown field',
    (key) => {
      // As JSON.parse makes it: an own member, `__proto__` included.
      const value = JSON.parse(JSON.stringify(schedule('simulator', 'pm_card_visa')).replace('{', `{"${key}":{"a":1},`)) as Record<string, unknown>;
      const err = refusal(value);
      expect(err.field).toBe(`schedule.${key}`);
      expect(err.reason).toBe('is not a schedule field');
    },
  );
});
