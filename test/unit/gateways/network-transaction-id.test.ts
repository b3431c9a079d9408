import { readFileSync } from 'node:fs';
import path from 'node:path';
import { adyenTransformer } from '../../../src/gateways/adyen';
import { cybersourceTransformer } from '../../../src/gateways/cybersource';
import { networkTransactionIdOf } from '../../../src/gateways/network-transaction-id';
import { simulatorTransformer } from '../../../src/gateways/simulator';
import { stripeTransformer } from '../../../src/gateways/stripe';
import { luhnValid } from '../../../src/logging/redact';
import { ctxFor as adyenCtx, gateway as adyenGateway, response as adyenResponse, specExample } from './adyen/adyen-test-support';
import { PAYMENT_ID, ctx as cybersourceCtx, gateway as cybersourceGateway, response as cybersourceResponse } from './cybersource/cybersource-test-fixtures';
import { authorization, ctx as simulatorCtx, gateway as simulatorGateway, json as simulatorJson } from './simulator/simulator-test-support';
import { jsonResponse, paymentIntent, stripeContext, stripeGateway } from './stripe/stripe-fixtures';

/** A Visa-like network transaction id of 15 digits that passes the Luhn check, starting with a card-issuing digit. */
const CARD_LIKE_ID = '483297510463217';

describe('network transaction id: each PSP answer read where its documentation puts it', () => {
  it('reads only a string of letters and digits up to 64 characters, never inventing one', () => {
    expect(networkTransactionIdOf(' 483297510463217 ')).toBe(CARD_LIKE_ID);
    expect(networkTransactionIdOf('MCC0001AB0101')).toBe('MCC0001AB0101');
    for (const other of [undefined, null, 483297510463217, '', '4832 9751 0463 217', 'x'.repeat(65), '<script>']) {
      expect(networkTransactionIdOf(other)).toBeUndefined();
    }
  });

  describe('Stripe: latest_charge.payment_method_details.card.network_transaction_id (Charge, API 2024-12-18)', () => {
    // A Charge as Stripe's changelog "Adds network transaction ID to charges" (2024-12-18.acacia) documents it on
    // `payment_method_details.card`; the offline 2023-08-16 spec predates the field (test/fixtures/specs/README.md).
    const charge = (id: unknown) => ({
      id: 'ch_3NgB1r2eZvKYlo2C0abcdefg',
      object: 'charge',
      created: 1692600001,
      payment_method_details: { type: 'card', card: { brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030, network_transaction_id: id } },
    });

    it('reads it from the expanded charge of an authorization (a manual capture expands latest_charge)', () => {
      const ctx = stripeContext('authorize');
      const outcome = stripeTransformer.parseResponse(ctx, jsonResponse(200, paymentIntent(ctx, { latest_charge: charge(CARD_LIKE_ID) })), stripeGateway);
      expect(outcome).toMatchObject({ status: 'SUCCESS', networkTransactionId: CARD_LIKE_ID });
    });

    it('has none when the charge is named by id only (a sale), null (another brand), or the payment failed', () => {
      const sale = stripeContext('sale');
      expect(
        stripeTransformer.parseResponse(sale, jsonResponse(200, paymentIntent(sale, { status: 'succeeded' })), stripeGateway).networkTransactionId,
      ).toBeUndefined();
      const ctx = stripeContext('authorize');
      const nulled = paymentIntent(ctx, { latest_charge: charge(null) });
      expect(stripeTransformer.parseResponse(ctx, jsonResponse(200, nulled), stripeGateway).networkTransactionId).toBeUndefined();
      const failed = paymentIntent(ctx, { status: 'requires_payment_method', latest_charge: charge(CARD_LIKE_ID) });
      expect(stripeTransformer.parseResponse(ctx, jsonResponse(200, failed), stripeGateway).networkTransactionId).toBeUndefined();
    });
  });

  describe('Adyen: additionalData.networkTxReference', () => {
    it("reads the Checkout v71 spec's own example answer, whose id (15 digits) passes the Luhn check", () => {
      const example = specExample('/payments', '200', 'split-balanceplatform') as { additionalData: Record<string, string> };
      expect(example.additionalData.networkTxReference).toBe('777718270854480');
      expect(luhnValid('777718270854480')).toBe(true);
      for (const command of ['authorize', 'sale'] as const) {
        const outcome = adyenTransformer.parseResponse(adyenCtx(command), adyenResponse(200, example), adyenGateway);
        expect(outcome).toMatchObject({ status: 'SUCCESS', networkTransactionId: '777718270854480' });
      }
    });

    it('has none without the additional data setting, for a refusal, or for a revalidate', () => {
      const example = specExample('/payments', '200', 'split-balanceplatform') as Record<string, unknown>;
      const withoutIt = adyenTransformer.parseResponse(adyenCtx('authorize'), adyenResponse(200, specExample('/payments', '200', 'card-direct')), adyenGateway);
      expect(withoutIt.networkTransactionId).toBeUndefined();
      const refused = adyenTransformer.parseResponse(
        adyenCtx('authorize'),
        adyenResponse(200, { ...example, resultCode: 'Refused', refusalReasonCode: '2' }),
        adyenGateway,
      );
      expect(refused.networkTransactionId).toBeUndefined();
      expect(adyenTransformer.parseResponse(adyenCtx('revalidate'), adyenResponse(200, example), adyenGateway).networkTransactionId).toBeUndefined();
    });
  });

  describe('Cybersource: processorInformation.networkTransactionId', () => {
    const spec = JSON.parse(readFileSync(path.join(__dirname, '../../fixtures/specs/cybersource-payments-2020-02-17.json'), 'utf8')) as {
      paths: Record<string, { post: { responses: Record<string, { schema: { properties: Record<string, { properties: Record<string, unknown> }> } }> } }>;
    };

    it('reads it from the 201 of an authorization or a sale, a field the 2020-02-17 spec declares', () => {
      const schema = spec.paths['/pts/v2/payments'].post.responses['201'].schema.properties.processorInformation.properties;
      expect(schema.networkTransactionId).toMatchObject({ type: 'string' });
      for (const command of ['authorize', 'sale'] as const) {
        const outcome = cybersourceTransformer.parseResponse(
          cybersourceCtx(command),
          cybersourceResponse(201, {
            id: PAYMENT_ID,
            submitTimeUtc: '2026-11-22T10:00:00Z',
            status: 'AUTHORIZED',
            clientReferenceInformation: { code: `op-${command}-1` },
            orderInformation: { amountDetails: { authorizedAmount: '102.21', currency: 'USD' } },
            processorInformation: { approvalCode: '888888', responseCode: '100', transactionId: CARD_LIKE_ID, networkTransactionId: CARD_LIKE_ID },
          }),
          cybersourceGateway,
        );
        expect(outcome).toMatchObject({ status: 'SUCCESS', networkTransactionId: CARD_LIKE_ID });
      }
    });

    it('has none for a decline', () => {
      const outcome = cybersourceTransformer.parseResponse(
        cybersourceCtx('authorize'),
        cybersourceResponse(201, {
          id: PAYMENT_ID,
          status: 'DECLINED',
          errorInformation: { reason: 'EXPIRED_CARD' },
          processorInformation: { networkTransactionId: CARD_LIKE_ID },
        }),
        cybersourceGateway,
      );
      expect(outcome.status).toBe('FAIL');
      expect(outcome.networkTransactionId).toBeUndefined();
    });
  });

  describe('Simulator: the authorization’s network_transaction_id', () => {
    it('reads it from an approved authorization or sale, never from a decline', () => {
      for (const [command, status] of [
        ['authorize', 'authorized'],
        ['sale', 'captured'],
      ] as const) {
        const outcome = simulatorTransformer.parseResponse(
          simulatorCtx(command),
          simulatorJson(201, authorization({ status, network_transaction_id: CARD_LIKE_ID })),
          simulatorGateway,
        );
        expect(outcome).toMatchObject({ status: 'SUCCESS', networkTransactionId: CARD_LIKE_ID });
      }
      const declined = simulatorTransformer.parseResponse(
        simulatorCtx('authorize'),
        simulatorJson(201, authorization({ status: 'declined', decline_code: 'card_declined', network_transaction_id: CARD_LIKE_ID })),
        simulatorGateway,
      );
      expect(declined.networkTransactionId).toBeUndefined();
    });
  });
});
