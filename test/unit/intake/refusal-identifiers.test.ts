import { refusalHeaders, refusalIdentifiers } from '../../../src/intake/refusal-identifiers';

describe('refusalIdentifiers', () => {
  it('reads the order id and the JSON-RPC id of a bus call', () => {
    const raw = JSON.stringify({ jsonrpc: '2.0', id: 'rpc-42', method: 'm', params: { payment: { order_id: 'ORD-7', amount: -5 } } });
    expect(refusalIdentifiers(Buffer.from(raw))).toEqual({ order_id: 'ORD-7', rpc_id: 'rpc-42' });
    expect(refusalHeaders(refusalIdentifiers(raw))).toEqual({ 'x-pb-order-id': 'ORD-7', 'x-pb-rpc-id': 'rpc-42' });
  });

  it('reads a queued command: the order id, and the bus sequence as its JSON-RPC id (other channels have none)', () => {
    expect(refusalIdentifiers(JSON.stringify({ channel: 'bus', sequence: 17, payment: { order_id: 'ORD-1' } }))).toEqual({ order_id: 'ORD-1', rpc_id: 17 });
    expect(refusalIdentifiers(JSON.stringify({ channel: 'pos', sequence: 'r-9', payment: { order_id: 'ORD-2' } }))).toEqual({ order_id: 'ORD-2' });
  });

  it('gives nothing for a body that is not a JSON object, and never throws', () => {
    expect(refusalIdentifiers('{not json')).toEqual({});
    expect(refusalIdentifiers('[1,2]')).toEqual({});
    expect(refusalIdentifiers(`${'['.repeat(200_000)}${']'.repeat(200_000)}`)).toEqual({});
    expect(refusalIdentifiers(JSON.stringify({ payment: { order_id: { nested: true } } }))).toEqual({});
    expect(refusalIdentifiers(JSON.stringify({ payment: { order_id: 'x'.repeat(500) } })).order_id).toHaveLength(128);
  });
});
