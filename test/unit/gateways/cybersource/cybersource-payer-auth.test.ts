import { cybersourceTransformer as t } from '../../../../src/gateways/cybersource';
import { validateCommand } from '../../../../src/contracts/command-validator';
import { CommandValidationError } from '../../../../src/errors/command-validation-error';
import { redact } from '../../../../src/logging/redact';
import { channelCommand } from '../../../support/fixtures';
import { PAYMENT_ID, bodyOf, ctx, gateway, response } from './cybersource-test-fixtures';

/** A PENDING_AUTHENTICATION answer as Cybersource documents it for `actionList: ["CONSUMER_AUTHENTICATION"]`. */
const STEP_UP = {
  id: PAYMENT_ID,
  status: 'PENDING_AUTHENTICATION',
  clientReferenceInformation: { code: 'op-authorize-1' },
  errorInformation: {
    reason: 'CONSUMER_AUTHENTICATION_REQUIRED',
    message: 'The cardholder is enrolled in Payer Authentication. Please authenticate the cardholder before continuing with the transaction.',
  },
  consumerAuthenticationInformation: {
    stepUpUrl: 'https://centinelapistag.cardinalcommerce.com/V2/Cruise/StepUp',
    accessToken: 'eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJzdGVwLXVwIn0.c2lnbmF0dXJl',
    authenticationTransactionId: 'hZ4yAg1Z3VbvH4qYkXm0',
    pareq: 'eNpVUttygjAQ',
  },
};

describe('Cybersource Payer Authentication', () => {
  describe('request', () => {
    it('asks for CONSUMER_AUTHENTICATION when the command says three_ds: required, with the return URL', () => {
      const req = t.buildRequest(
        ctx('authorize', { three_ds: 'required', payment_method: { type: 'stored_card', return_url: 'https://shop.example/3ds' } }),
        gateway,
      );
      const body = bodyOf(req.body);
      expect(req.path).toBe('/pts/v2/payments');
      expect(body.processingInformation).toMatchObject({ capture: false, actionList: ['CONSUMER_AUTHENTICATION'] });
      expect(body.consumerAuthenticationInformation).toEqual({ returnUrl: 'https://shop.example/3ds' });
    });

    it('ties the enrollment check to the device data collection: referenceId from payment_method.three_ds_reference_id', () => {
      // "Step 3: Payer Authentication Check Enrollment Service": the setup's consumerAuthenticationInformation.referenceId.
      const referenceId = 'fb5d9e40-9bb0-4cc6-9e5f-f5ec1f1e6c57';
      const paymentMethod = { type: 'stored_card', return_url: 'https://shop.example/3ds', three_ds_reference_id: referenceId } as const;
      const body = bodyOf(t.buildRequest(ctx('sale', { three_ds: 'required', payment_method: paymentMethod }), gateway).body);
      expect(body.consumerAuthenticationInformation).toEqual({ referenceId, returnUrl: 'https://shop.example/3ds' });
      // The validation names the challenge, not the collection.
      const completion = t.buildActionCompletionRequest!(
        ctx('sale', { three_ds: 'required', payment_method: paymentMethod }),
        { authentication_transaction_id: 'hZ4yAg1Z3VbvH4qYkXm0' },
        gateway,
      );
      expect(bodyOf(completion.body).consumerAuthenticationInformation).toEqual({ authenticationTransactionId: 'hZ4yAg1Z3VbvH4qYkXm0' });
    });

    it('asks for it on every authorize and sale of a gateway configured with payer_authentication', () => {
      const g = { ...gateway, payerAuthentication: true };
      expect(bodyOf(t.buildRequest(ctx('sale'), g).body).processingInformation).toMatchObject({ capture: true, actionList: ['CONSUMER_AUTHENTICATION'] });
      // Nothing of it without a return URL.
      expect(bodyOf(t.buildRequest(ctx('sale'), g).body).consumerAuthenticationInformation).toBeUndefined();
    });

    it('does not ask for it otherwise, nor on a merchant-initiated revalidate', () => {
      expect(bodyOf(t.buildRequest(ctx('authorize'), gateway).body).processingInformation).toEqual({ capture: false });
      const mit = bodyOf(t.buildRequest(ctx('revalidate'), { ...gateway, payerAuthentication: true }).body).processingInformation as Record<string, unknown>;
      expect(mit.actionList).toBeUndefined();
    });

    it('does not ask for it on a recurring (merchant-initiated) charge of a gateway configured with payer_authentication', () => {
      const g = { ...gateway, payerAuthentication: true };
      for (const command of ['sale', 'authorize'] as const) {
        const processing = bodyOf(t.buildRequest(ctx(command, { recurring: { model: 'subscription', schedule_id: 'sub-42', cycle: 2 } }), g).body)
          .processingInformation as Record<string, unknown>;
        expect(processing.actionList).toBeUndefined();
        expect(processing).toMatchObject({ commerceIndicator: 'recurring', authorizationOptions: { initiator: { type: 'merchant' } } });
      }
    });

    it('refuses a recurring charge that asks for three_ds: required, naming payment.three_ds, before anything is sent', () => {
      let field = 'accepted';
      try {
        t.buildRequest(ctx('sale', { three_ds: 'required', recurring: { model: 'unscheduled' } }), gateway);
      } catch (err) {
        field = err instanceof CommandValidationError ? err.field : 'other error';
      }
      expect(field).toBe('payment.three_ds');
    });

    it('keeps TOKEN_CREATE beside CONSUMER_AUTHENTICATION for a token on first use', () => {
      const req = t.buildRequest(ctx('authorize', { three_ds: 'required', payment_method: { type: 'card', token: 'flex-transient-jwt', store: true } }), {
        ...gateway,
        storePaymentMethods: true,
      });
      expect((bodyOf(req.body).processingInformation as Record<string, unknown>).actionList).toEqual(['CONSUMER_AUTHENTICATION', 'TOKEN_CREATE']);
    });

    it('completes with VALIDATE_CONSUMER_AUTHENTICATION and the challenge transaction id, under the same merchant reference', () => {
      const req = t.buildActionCompletionRequest!(
        ctx('authorize', { three_ds: 'required' }),
        { authentication_transaction_id: 'hZ4yAg1Z3VbvH4qYkXm0' },
        gateway,
      );
      const body = bodyOf(req.body);
      expect(req.path).toBe('/pts/v2/payments');
      expect(body.clientReferenceInformation).toEqual({ code: 'op-authorize-1' });
      expect(body.processingInformation).toMatchObject({ capture: false, actionList: ['VALIDATE_CONSUMER_AUTHENTICATION'] });
      expect(body.consumerAuthenticationInformation).toEqual({ authenticationTransactionId: 'hZ4yAg1Z3VbvH4qYkXm0' });
      expect(body.orderInformation).toEqual({ amountDetails: { totalAmount: '102.21', currency: 'USD' } });
      expect(
        (
          bodyOf(t.buildActionCompletionRequest!(ctx('sale'), { authentication_transaction_id: 'x1' }, gateway).body).processingInformation as Record<
            string,
            unknown
          >
        ).capture,
      ).toBe(true);
    });

    it('refuses a completion of a command other than authorize or sale, naming payment.action_result', () => {
      expect(() => t.buildActionCompletionRequest!(ctx('capture'), { authentication_transaction_id: 'x1' }, gateway)).toThrow(
        expect.objectContaining({ field: 'payment.action_result' }) as Error,
      );
    });
  });

  describe('response', () => {
    it('turns PENDING_AUTHENTICATION with step-up data into ACTION_REQUIRED carrying what the storefront needs', () => {
      const out = t.parseResponse(ctx('authorize', { three_ds: 'required' }), response(201, STEP_UP), gateway);
      expect(out).toMatchObject({ status: 'ACTION_REQUIRED', gatewayStatus: 'PENDING_AUTHENTICATION', gatewayReference: PAYMENT_ID });
      expect(out.reason).toBeUndefined();
      expect(out.action).toEqual({
        kind: 'three_ds',
        url: STEP_UP.consumerAuthenticationInformation.stepUpUrl,
        psp_action: {
          type: 'cybersource_step_up',
          stepUpUrl: STEP_UP.consumerAuthenticationInformation.stepUpUrl,
          accessToken: STEP_UP.consumerAuthenticationInformation.accessToken,
          authenticationTransactionId: 'hZ4yAg1Z3VbvH4qYkXm0',
        },
      });
    });

    it('keeps PENDING_AUTHENTICATION a FAIL when the step-up data is missing', () => {
      const { consumerAuthenticationInformation: _gone, ...bare } = STEP_UP;
      const out = t.parseResponse(ctx('authorize'), response(201, bare), gateway);
      expect(out).toMatchObject({ status: 'FAIL', gatewayStatus: 'PENDING_AUTHENTICATION' });
      expect(out.action).toBeUndefined();
      const partial = { ...STEP_UP, consumerAuthenticationInformation: { stepUpUrl: 'https://x.example' } };
      expect(t.parseResponse(ctx('authorize'), response(201, partial), gateway).status).toBe('FAIL');
    });

    it('reads PENDING_AUTHENTICATION on a recurring charge as a FAIL to authenticate, never a wait for a cardholder who is not there', () => {
      const recurring = { recurring: { model: 'subscription' as const, schedule_id: 'sub-42', cycle: 2 } };
      const out = t.parseResponse(ctx('sale', recurring), response(201, STEP_UP), { ...gateway, payerAuthentication: true });
      expect(out).toMatchObject({ status: 'FAIL', gatewayStatus: 'PENDING_AUTHENTICATION', decline: { category: 'authentication_required' } });
      expect(out.action).toBeUndefined();
      const search = response(201, {
        totalCount: 1,
        _embedded: {
          transactionSummaries: [
            {
              id: PAYMENT_ID,
              submitTimeUtc: '2026-11-30T00:00:00Z',
              clientReferenceInformation: { code: 'op-sale-1' },
              applicationInformation: { status: 'PENDING_AUTHENTICATION' },
            },
          ],
        },
      });
      expect(t.parseStatusResponse(ctx('sale', recurring), search, { ...gateway, payerAuthentication: true })).toMatchObject({ status: 'FAIL' });
    });

    it('reads the validated authorization as SUCCESS with its new payment id and confirmed amount', () => {
      const out = t.parseResponse(
        ctx('authorize'),
        response(201, {
          id: '6381278241084565900123',
          status: 'AUTHORIZED',
          orderInformation: { amountDetails: { authorizedAmount: '102.21', currency: 'USD' } },
        }),
        gateway,
      );
      expect(out).toMatchObject({ status: 'SUCCESS', gatewayReference: '6381278241084565900123', amount: 10221, currency: 'USD' });
    });

    it('reads a failed authentication (201 AUTHENTICATION_FAILED, 400 CONSUMER_AUTHENTICATION_FAILED) as a FAIL to authenticate', () => {
      const failed = t.parseResponse(
        ctx('authorize'),
        response(201, { id: PAYMENT_ID, status: 'AUTHENTICATION_FAILED', errorInformation: { reason: 'CONSUMER_AUTHENTICATION_FAILED' } }),
        gateway,
      );
      expect(failed).toMatchObject({ status: 'FAIL', reason: 'CONSUMER_AUTHENTICATION_FAILED', decline: { category: 'authentication_required' } });
      const refused = t.parseResponse(
        ctx('authorize'),
        response(400, { status: 'INVALID_REQUEST', reason: 'CONSUMER_AUTHENTICATION_FAILED', message: 'Payer could not be authenticated.' }),
        gateway,
      );
      expect(refused).toMatchObject({ status: 'FAIL', reason: 'CONSUMER_AUTHENTICATION_FAILED' });
    });

    it('reads a status inquiry finding the challenge still open as still waiting, only where 3-D Secure was asked for', () => {
      const search = response(201, {
        totalCount: 1,
        _embedded: {
          transactionSummaries: [
            {
              id: PAYMENT_ID,
              submitTimeUtc: '2026-11-30T00:00:00Z',
              clientReferenceInformation: { code: 'op-authorize-1' },
              applicationInformation: { status: 'PENDING_AUTHENTICATION' },
            },
          ],
        },
      });
      expect(t.parseStatusResponse(ctx('authorize', { three_ds: 'required' }), search, gateway)).toMatchObject({ status: 'ACTION_REQUIRED' });
      expect(t.parseStatusResponse(ctx('authorize'), search, gateway)).toMatchObject({ status: 'FAIL' });
    });

    it('never lets the access token into a log line (the redactor masks its key)', () => {
      const out = t.parseResponse(ctx('authorize'), response(201, STEP_UP), gateway);
      expect(JSON.stringify(redact({ action: out.action }))).not.toContain(STEP_UP.consumerAuthenticationInformation.accessToken);
    });
  });

  describe('command', () => {
    it('accepts three_ds: required and an action_result, and names the field of a bad one', () => {
      expect(() => validateCommand(channelCommand('authorize', {}, { three_ds: 'required' }))).not.toThrow();
      expect(() =>
        validateCommand(channelCommand('authorize', {}, { action_result: { authentication_transaction_id: 'hZ4yAg1Z3VbvH4qYkXm0' } })),
      ).not.toThrow();
      const bad = (p: Record<string, unknown>) => {
        try {
          validateCommand(channelCommand('authorize', {}, p));
        } catch (err) {
          return err instanceof CommandValidationError ? err.field : 'other error';
        }
        return 'accepted';
      };
      expect(bad({ three_ds: 'maybe' })).toMatch(/^payment\.three_ds/);
      expect(bad({ action_result: {} })).toMatch(/^payment\.action_result/);
      expect(bad({ action_result: { authentication_transaction_id: 'has spaces' } })).toMatch(/^payment\.action_result/);
      expect(() =>
        validateCommand(channelCommand('authorize', {}, { payment_method: { type: 'card', three_ds_reference_id: 'fb5d9e40-9bb0-4cc6-9e5f-f5ec1f1e6c57' } })),
      ).not.toThrow();
      expect(bad({ payment_method: { type: 'card', three_ds_reference_id: 'x'.repeat(51) } })).toMatch(/^payment\.payment_method/);
    });
  });
});
