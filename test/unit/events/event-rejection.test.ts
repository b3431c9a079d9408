import { BusAuthenticationError, BusRequestError, BusRpcError, PeerUnavailableError } from '../../../src/bus/bus-errors';
import { readTokenAnswer } from '../../../src/bus/oauth-token-provider';
import { contentRejection, countRefundNoticeSetAside } from '../../../src/events/event-rejection';
import { metricsRegistry } from '../../../src/metrics/metrics-registry';

/** What the token provider throws for the OAuth server's answer (RFC 6749 §5.2 error response). */
function tokenRefusal(status: number, body: unknown): unknown {
  try {
    readTokenAnswer({ status, body: JSON.stringify(body), headers: {} }, 'http://oauth.test/oauth/token');
  } catch (err) {
    return err;
  }
  throw new Error('expected the token answer to be refused');
}

describe('contentRejection: which bus refusals are about the event itself', () => {
  it.each([
    [new BusRequestError('refused', 400), 'http_400'],
    [new BusRequestError('refused', 413), 'http_413'],
    [new BusRequestError('refused', 422), 'http_422'],
    [new BusRpcError(-32700, 'Parse error'), 'rpc_-32700'],
    [new BusRpcError(-32600, 'Invalid Request'), 'rpc_-32600'],
    [new BusRpcError(-32602, 'Invalid params'), 'rpc_-32602'],
  ])('%p is a refusal of the content: %s', (err, reason) => {
    expect(contentRejection(err)).toBe(reason);
  });

  it.each([
    ['404 (the endpoint)', new BusRequestError('refused', 404)],
    ['403 (our access)', new BusRequestError('refused', 403)],
    ['405 (the method)', new BusRequestError('refused', 405)],
    ['JSON-RPC method not found', new BusRpcError(-32601, 'Method not found')],
    ['JSON-RPC internal error', new BusRpcError(-32603, 'Internal error')],
    ['a refused token', new BusAuthenticationError('refused', 401)],
    ['an outage', new PeerUnavailableError('bus', 'http://bus', 'HTTP 503')],
    ['a TypeError', new TypeError('x')],
    ['the OAuth server refusing the scope (400 invalid_scope)', tokenRefusal(400, { error: 'invalid_scope' })],
    ['the OAuth server refusing the grant (400 unsupported_grant_type)', tokenRefusal(400, { error: 'unsupported_grant_type' })],
    ['the OAuth server answering 400 without a code', tokenRefusal(400, { message: 'bad' })],
    ['the OAuth server refusing with 422', tokenRefusal(422, { error: 'invalid_request' })],
  ])('%s is not: retried until fixed, never set aside', (_name, err) => {
    expect(contentRejection(err)).toBeNull();
  });
});

describe('pb_refund_notices_set_aside_total: its reason label is a bounded set', () => {
  async function reasons(): Promise<string[]> {
    const { values } = await metricsRegistry.getSingleMetric('pb_refund_notices_set_aside_total')!.get();
    return values.map((v) => String(v.labels.reason)).sort();
  }

  it("names JSON-RPC 2.0's own codes; any other code the bus sends (32 bits of its choosing) is rpc_other, no new series", async () => {
    countRefundNoticeSetAside(-32601);
    countRefundNoticeSetAside(-32603);
    // A bus that puts an id, a time or an application code in `error.code`: one series for all of them.
    for (const code of [-32000, 0, 1, 404, 1733561234, -2147483648, 2147483647]) countRefundNoticeSetAside(code);
    expect(await reasons()).toEqual(['rpc_-32601', 'rpc_-32603', 'rpc_other']);
  });
});
