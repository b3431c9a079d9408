import { extensibleCopy } from '../../../src/events/extensible-copy';
import { withSequence } from '../../../src/events/event-send';

describe('extensibleCopy (an event payment echo copied without a spread)', () => {
  it('has the same keys in the same order and the same values as a spread copy, and is a new object', () => {
    const source = { gateway: 'simulator', amount: 1000, lines: [{ line_number: 1 }], order_id: 'ORD-1' };
    const copy = extensibleCopy(source);
    expect(copy).not.toBe(source);
    expect(Object.keys(copy)).toEqual(Object.keys({ ...source }));
    expect(copy).toEqual({ ...source });
    expect(copy.lines).toBe(source.lines);
    copy.status = 'SUCCESS';
    expect(source).not.toHaveProperty('status');
  });

  it('keeps an own __proto__ key (as JSON.parse makes one) as a plain property, as a spread does, without changing the prototype', () => {
    const source = JSON.parse('{"a":1,"__proto__":{"polluted":true},"b":2}') as Record<string, unknown>;
    const copy = extensibleCopy(source);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect((copy as { polluted?: boolean }).polluted).toBeUndefined();
    expect(JSON.stringify(copy)).toBe(JSON.stringify({ ...source }));
  });

  it('withSequence writes the same JSON as the spreads did: event_id in its place, sequence last', () => {
    const params = { payment: { gateway: 'simulator', status: 'SUCCESS', event_id: 'op-1.SUCCEEDED' } };
    const spread = { ...params, payment: { ...params.payment, event_id: 'op-1.SUCCEEDED', sequence: 3 } };
    expect(JSON.stringify(withSequence(params, 'op-1.SUCCEEDED', 3))).toBe(JSON.stringify(spread));
    expect(params.payment).not.toHaveProperty('sequence');
    expect(JSON.stringify(withSequence({ code: 'PENDINGRELEASE' }, 'op-1.refund-pending', 1))).toBe(
      JSON.stringify({ code: 'PENDINGRELEASE', event_id: 'op-1.refund-pending', sequence: 1 }),
    );
  });
});
