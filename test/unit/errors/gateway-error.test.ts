import { GatewayError } from '../../../src/errors/gateway-error';
import { MAX_ERROR_GATEWAY_CODE_CHARS, MAX_ERROR_MESSAGE_CHARS } from '../../../src/errors/psp-text';

/** Every 12-digit prefix of a card number: none may be left in an error's text, whole or cut. */
function panPieces(pan: string): string[] {
  return [pan, pan.slice(0, 12), pan.slice(-12)];
}

describe('GatewayError: what a PSP sent, in its message and gateway code', () => {
  it('masks a card number the PSP echoed, in the message and in the gateway code that becomes the OMS reason', () => {
    for (const pan of ['4111111111111111', '4111 1111 1111 1111', '5555-5555-5555-4444']) {
      const err = new GatewayError('invalid_request', 'stripe', `HTTP 400 invalid_request_error ${pan}`, { httpStatus: 400, gatewayCode: pan });
      for (const piece of panPieces(pan)) {
        expect(err.message).not.toContain(piece);
        expect(err.details.gatewayCode).not.toContain(piece);
      }
      expect(err.details.gatewayCode).toContain('REDACTED');
    }
  });

  it('cuts a megabyte of PSP text: the message says how long it was, the code is a code', () => {
    const huge = 'x'.repeat(1_000_000);
    const err = new GatewayError('server_error', 'adyen', `server error (HTTP 500, errorCode ${huge})`, { httpStatus: 500, gatewayCode: huge });
    expect(err.message.length).toBeLessThan(MAX_ERROR_MESSAGE_CHARS + 64);
    expect(err.message).toContain('characters)');
    expect(err.details.gatewayCode).toBe('x'.repeat(MAX_ERROR_GATEWAY_CODE_CHARS));
  });

  it('masks a card number written across the cut whole, never leaving its first digits', () => {
    const pan = '4111 1111 1111 1111';
    for (let pad = MAX_ERROR_MESSAGE_CHARS - 20; pad <= MAX_ERROR_MESSAGE_CHARS; pad += 1) {
      const err = new GatewayError('invalid_request', 'cybs', `${'x'.repeat(pad)}${pan} and more ${'y'.repeat(1000)}`);
      expect(err.message).not.toMatch(/4111 1111 1111/);
    }
    const code = new GatewayError('declined', 'cybs', 'declined', { gatewayCode: `${'C'.repeat(MAX_ERROR_GATEWAY_CODE_CHARS - 8)}4111111111111111` });
    expect(code.details.gatewayCode).not.toMatch(/41111111/);
  });

  it('keeps an ordinary code and message as they are', () => {
    const err = new GatewayError('declined', 'stripe', 'HTTP 402 card_error insufficient_funds', { httpStatus: 402, gatewayCode: 'insufficient_funds' });
    expect(err.message).toBe('stripe: HTTP 402 card_error insufficient_funds');
    expect(err.details).toEqual({ httpStatus: 402, gatewayCode: 'insufficient_funds' });
  });
});
