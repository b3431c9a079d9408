import { separateConnectTimeout } from '../../../src/http/outbound-http';

// The one rule the gateway, bus, OAuth and reconciliation clients share for their connect bound.
describe('separateConnectTimeout', () => {
  it('keeps a connect bound shorter than the call deadline', () => {
    expect(separateConnectTimeout(2000, 10000)).toBe(2000);
    expect(separateConnectTimeout(9999, 10000)).toBe(9999);
  });

  it('drops a bound at or past the deadline (it would never fire first: the deadline alone bounds the call)', () => {
    expect(separateConnectTimeout(10000, 10000)).toBeUndefined();
    expect(separateConnectTimeout(30000, 10000)).toBeUndefined();
  });

  it('leaves an absent bound absent', () => {
    expect(separateConnectTimeout(undefined, 10000)).toBeUndefined();
  });
});
