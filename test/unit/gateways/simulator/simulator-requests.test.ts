import { simulatorTransformer } from '../../../../src/gateways/simulator';
import { ctx, gateway } from './simulator-test-support';

const t = simulatorTransformer;

function body(command: Parameters<typeof ctx>[0], overrides = {}): unknown {
  const req = t.buildRequest(ctx(command, overrides), gateway);
  return req.body === undefined ? undefined : JSON.parse(req.body);
}

describe('simulator requests', () => {
  it('authorizes with capture false, the gateway key as payment method and the operation id as reference', () => {
    const req = t.buildRequest(ctx('authorize'), gateway);
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/v1/authorizations');
    expect(req.headers['idempotency-key']).toBe('op-authorize-42');
    expect(req.headers['content-type']).toBe('application/json');
    expect(body('authorize')).toEqual({ amount: 2550, currency: 'EUR', payment_method: 'pm_card_visa', reference: 'op-authorize-42', capture: false });
  });

  it('sells with capture true', () => {
    expect(body('sale')).toMatchObject({ capture: true, amount: 2550, reference: 'op-sale-42' });
  });

  it('sends amounts as integers of minor units, whatever the currency exponent', () => {
    expect(body('authorize', { amount: 500, currency: 'JPY' })).toMatchObject({ amount: 500, currency: 'JPY' });
    expect(body('authorize', { amount: 1234, currency: 'KWD' })).toMatchObject({ amount: 1234, currency: 'KWD' });
  });

  it('validates with a GET of the authorization and no body', () => {
    const req = t.buildRequest(ctx('validate'), gateway);
    expect(req).toMatchObject({ method: 'GET', path: '/v1/authorizations/auth_abc123' });
    expect(req.body).toBeUndefined();
    expect(req.headers['idempotency-key']).toBeUndefined();
  });

  it.each([
    ['revalidate', '/v1/authorizations/auth_abc123/reauthorize', { amount: 2550, reference: 'op-revalidate-42' }],
    ['capture', '/v1/authorizations/auth_abc123/captures', { amount: 2550, reference: 'op-capture-42' }],
    ['cancel', '/v1/authorizations/auth_abc123/cancel', { reference: 'op-cancel-42' }],
    ['refund', '/v1/authorizations/auth_abc123/refunds', { amount: 2550, reference: 'op-refund-42' }],
    ['tokenize', '/v1/tokens', { payment_method: 'pm_card_visa', reference: 'op-tokenize-42' }],
  ] as const)('%s posts to %s with the operation id as idempotency key', (command, path, expected) => {
    const req = t.buildRequest(ctx(command), gateway);
    expect(req.method).toBe('POST');
    expect(req.path).toBe(path);
    expect(req.headers['idempotency-key']).toBe(`op-${command}-42`);
    expect(JSON.parse(req.body ?? '')).toEqual(expected);
  });

  it('escapes a gateway key that would change the path', () => {
    expect(t.buildRequest(ctx('capture', { gateway_key: '../tokens?x=1' }), gateway).path).toBe('/v1/authorizations/..%2Ftokens%3Fx%3D1/captures');
  });

  it('asks the status of an operation by its operation id', () => {
    expect(t.buildStatusRequest(ctx('capture'), gateway)).toEqual({
      method: 'GET',
      path: '/v1/operations/op-capture-42',
      headers: { accept: 'application/json' },
    });
  });

  it('authenticates with the api key as a bearer token, leaving the request otherwise unchanged', () => {
    const req = t.buildRequest(ctx('authorize'), gateway);
    const signed = t.authenticate(req, gateway, new Date());
    expect(signed.headers.authorization).toBe('Bearer sk_test_unit_secret');
    expect({ ...signed, headers: { ...signed.headers, authorization: undefined } }).toEqual({ ...req, headers: { ...req.headers, authorization: undefined } });
    expect(req.headers.authorization).toBeUndefined();
  });

  it('supports all eight card commands and the six stored value card commands', () => {
    expect([...t.supports].sort()).toEqual([
      'activate',
      'authorize',
      'balance_inquiry',
      'cancel',
      'capture',
      'deactivate',
      'issue',
      'merge_balance',
      'refund',
      'reload',
      'revalidate',
      'sale',
      'tokenize',
      'validate',
    ]);
  });
});
