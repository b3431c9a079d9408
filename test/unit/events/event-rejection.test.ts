import { BusAuthenticationError, BusRequestError, BusRpcError, PeerUnavailableError } from '../../../src/bus/bus-errors';
import { contentRejection } from '../../../src/events/event-rejection';

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
  ])('%s is not: retried until fixed, never set aside', (_name, err) => {
    expect(contentRejection(err)).toBeNull();
  });
});
