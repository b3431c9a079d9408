import { COMMAND_TYPES, CommandType } from '../../../src/contracts/payment-command';
import { cybersourceTransformer as t } from '../../../src/gateways/cybersource';
import { GatewayRequest, OperationContext } from '../../../src/gateways/gateway-adapter';
import { PrismViolation, requestViolations, usePrismGateway } from '../../support/prism';

/**
 * Every request the Cybersource transformer builds, signed, against Prism serving the official
 * 2020-02-17 spec: no `sl-violations` header means the request has the shape the spec describes. The
 * Swagger 2.0 spec validates weakly (few required fields), hence the unit tests beside it.
 */

const suite = usePrismGateway('cybersource-payments-2020-02-17.json', {
  name: 'cybs-prism',
  type: 'cybersource',
  merchantAccount: '93B32398-AD51-4CC2-A682-EA3E93614EB1',
  merchantId: 'testrest',
  keyId: '08c94330-f618-42a3-b09d-e1e43be5efda',
  sharedSecret: 'yBJxy6LjM2TmcPGu+GaJrHtkke25fPpUX+UY6/L/1tE=',
});

async function send(request: GatewayRequest): Promise<{ status: number; violations: PrismViolation[] | undefined }> {
  const signed = t.authenticate(request, suite.gateway, new Date());
  // axios sets Host from the URL itself; the signed value is the same.
  const { host: _host, ...headers } = signed.headers;
  const answer = await suite.send({ ...signed, headers });
  return { status: answer.status, violations: requestViolations(answer.violations) };
}

const PAYMENT_ID = '6381278241084565908266';

function ctx(command: CommandType): OperationContext {
  return {
    operationId: `op-prism-${command}`,
    command,
    payment: {
      gateway: 'cybs-prism',
      gateway_account: 'default',
      gateway_key:
        command === 'tokenize'
          ? '7010000000016241112'
          : ['authorize', 'sale', 'revalidate'].includes(command)
            ? 'AB695DA801DD1BB6E05341588E0A3BDC'
            : PAYMENT_ID,
      amount: 10221,
      currency: 'USD',
      method_details: { method: 'card', card: { brand: 'visa', expiration_month: 12, expiration_year: 2031 } },
    },
  };
}

describe('Cybersource requests against the official spec (Prism)', () => {
  it.each(COMMAND_TYPES.filter((c) => t.supports.includes(c)).map((c) => [c] as const))('sends a %s request the spec accepts', async (command) => {
    const { status, violations } = await send(t.buildRequest(ctx(command), suite.gateway));
    expect(violations).toBeUndefined();
    // Prism answers 500 when its own example breaks the response schema; a refused request is a 4xx.
    expect(status < 400 || status >= 500).toBe(true);
  });

  it.each([
    ['a sale (void of the payment)', { by: 'sale' as const }],
    [
      'a captured authorization (void of its capture)',
      {
        by: 'capture' as const,
        authorized: { amount: 10221, currency: 'USD' },
        captures: [{ id: 'op-prism-capture', reference: '6950605680120491268584', amount: 10221 }],
      },
    ],
  ])('sends the cancel of %s the spec accepts', async (_what, captured) => {
    const request = t.buildRequest({ ...ctx('cancel'), captured }, suite.gateway);
    expect(request.path).toMatch(/\/voids$/);
    const { status, violations } = await send(request);
    expect(violations).toBeUndefined();
    expect(status < 400 || status >= 500).toBe(true);
  });

  it.each([['capture', 'captures'] as const, ['refund', 'refunds'] as const])(
    'sends the void of one of our %ss a cancel names (by our id or its Cybersource id) the spec accepts',
    async (command, path) => {
      const id = '6950605680120491268584';
      const c = ctx('cancel');
      const request = t.buildRequest(
        { ...c, payment: { ...c.payment, gateway_key: id }, voidOf: { command, operationId: `op-prism-${command}` } },
        suite.gateway,
      );
      expect(request.path).toBe(`/pts/v2/${path}/${id}/voids`);
      expect(JSON.parse(request.body ?? '{}')).toEqual({ clientReferenceInformation: { code: c.operationId } });
      const { status, violations } = await send(request);
      expect(violations).toBeUndefined();
      expect(status < 400 || status >= 500).toBe(true);
    },
  );

  it('sends the release of what a partial capture left (a reversal of the remainder) the spec accepts', async () => {
    const captured = {
      by: 'capture' as const,
      authorized: { amount: 10221, currency: 'USD' },
      captures: [{ id: 'op-prism-capture', reference: '6950605680120491268584', amount: 6000 }],
    };
    const request = t.buildRequest({ ...ctx('cancel'), captured }, suite.gateway);
    expect(request.path).toBe(`/pts/v2/payments/${PAYMENT_ID}/reversals`);
    expect(JSON.parse(request.body ?? '{}')).toMatchObject({ reversalInformation: { amountDetails: { totalAmount: '42.21', currency: 'USD' } } });
    const { status, violations } = await send(request);
    expect(violations).toBeUndefined();
    expect(status < 400 || status >= 500).toBe(true);
  });

  it('sends a status inquiry the spec accepts', async () => {
    const { status, violations } = await send(t.buildStatusRequest(ctx('capture'), suite.gateway));
    expect(violations).toBeUndefined();
    // Prism answers 500 when its own example breaks the response schema; a refused request is a 4xx.
    expect(status < 400 || status >= 500).toBe(true);
  });

  it("sends a status inquiry's follow-up (the transaction details of a partial authorization) the spec accepts", async () => {
    const c = ctx('authorize');
    const found = {
      status: 201,
      headers: {},
      elapsedMs: 1,
      body: JSON.stringify({
        totalCount: 1,
        _embedded: {
          transactionSummaries: [
            {
              id: PAYMENT_ID,
              submitTimeUtc: '2026-11-22T10:05:00Z',
              clientReferenceInformation: { code: c.operationId },
              applicationInformation: { status: 'PARTIAL_AUTHORIZED', rCode: '1', rFlag: 'SOK', reasonCode: '110' },
              orderInformation: { amountDetails: { totalAmount: '102.21', currency: 'USD' } },
            },
          ],
        },
      }),
    };
    const outcome = t.parseStatusResponse(c, found, suite.gateway);
    const request = outcome && t.statusFollowUp?.buildRequest(c, { outcome, response: found }, suite.gateway);
    expect(request).toMatchObject({ method: 'GET', path: `/tss/v2/transactions/${PAYMENT_ID}` });
    const { status, violations } = await send(request!);
    expect(violations).toBeUndefined();
    expect(status < 400 || status >= 500).toBe(true);
  });

  it('gets violations back for a request of the wrong type', async () => {
    const good = t.buildRequest(ctx('authorize'), suite.gateway);
    const body = JSON.parse(good.body ?? '{}') as { processingInformation: Record<string, unknown> };
    body.processingInformation.capture = 'yes please';
    const { status, violations } = await send({ ...good, body: JSON.stringify(body) });
    expect(violations?.map((v) => v.location.join('.'))).toContain('request.body.processingInformation.capture');
    expect(status).toBeGreaterThanOrEqual(400);
  });

  it('gets violations back for a token request without its required profile-id header', async () => {
    const good = t.buildRequest(ctx('tokenize'), suite.gateway);
    const { 'profile-id': _profile, ...headers } = good.headers;
    const { violations } = await send({ ...good, headers });
    expect(violations?.find((v) => v.location[1] === 'header' && v.message.includes('profile-id'))).toBeDefined();
  });
});
