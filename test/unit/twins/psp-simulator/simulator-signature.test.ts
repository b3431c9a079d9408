import { createHmac } from 'node:crypto';
import { signSimulatorPayload } from '../../../../harness/twins/psp-simulator/simulator-signature';

describe('signSimulatorPayload', () => {
  it('signs "t.rawBody" with HMAC-SHA256 keyed by the secret, as t=…,v1=<hex>', () => {
    const body = '{"id":"evt_1"}';
    const expected = createHmac('sha256', 'whsec_test').update(`1700000000.${body}`).digest('hex');
    expect(signSimulatorPayload('whsec_test', body, 1700000000)).toBe(`t=1700000000,v1=${expected}`);
  });

  it('gives the same signature for a Buffer and a string of the same bytes', () => {
    const body = '{"amount":1000,"currency":"EUR"}';
    expect(signSimulatorPayload('k', Buffer.from(body), 5)).toBe(signSimulatorPayload('k', body, 5));
  });

  it('changes when the secret, the time or a byte of the body changes', () => {
    const base = signSimulatorPayload('k', '{"a":1}', 5);
    expect(signSimulatorPayload('k2', '{"a":1}', 5)).not.toBe(base);
    expect(signSimulatorPayload('k', '{"a":1}', 6)).not.toBe(base);
    expect(signSimulatorPayload('k', '{"a":2}', 5)).not.toBe(base);
  });
});
