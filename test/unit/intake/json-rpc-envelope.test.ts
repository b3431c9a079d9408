import { JSON_RPC } from '../../../src/bus/json-rpc';
import { JsonRpcEnvelope, JsonRpcRefusal, paramsOf, readJsonRpcEnvelope } from '../../../src/intake/json-rpc-envelope';

const METHOD = 'magento.payments.recurring_management.create';
const request = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  jsonrpc: '2.0',
  id: 'rpc-1',
  method: METHOD,
  params: { schedule: {} },
  ...overrides,
});

function refused(body: unknown): JsonRpcRefusal {
  const r = readJsonRpcEnvelope(body);
  if (r.ok) throw new Error('expected the envelope to be refused');
  return r;
}

function accepted(body: unknown): JsonRpcEnvelope {
  const r = readJsonRpcEnvelope(body);
  if (!r.ok) throw new Error(`expected the envelope to hold, got ${r.error.message}`);
  return r;
}

/** The body as JSON text with `id` written as given, parsed as the intake parses it. */
const withIdText = (idText: string): unknown => JSON.parse(JSON.stringify(request()).replace('"id":"rpc-1"', `"id":${idText}`));

describe('readJsonRpcEnvelope', () => {
  it.each([
    ['jsonrpc "1.0"', request({ jsonrpc: '1.0' }), 'jsonrpc', 'rpc-1'],
    ['no jsonrpc', request({ jsonrpc: undefined }), 'jsonrpc', 'rpc-1'],
    ['a method that is not a string', request({ method: 7 }), 'method', 'rpc-1'],
    ['an object id', request({ id: { a: 1 } }), 'id', null],
    ['an array id', request({ id: [1] }), 'id', null],
    ['a boolean id', request({ id: true }), 'id', null],
    ['a batch', [request()], '(root)', null],
    ['a string body', 'text', '(root)', null],
  ])('refuses %s as an invalid request (-32600) naming the member', (_label, body, field, id) => {
    const r = refused(body);
    expect(r).toMatchObject({ id, code: JSON_RPC.INVALID_REQUEST });
    expect(r.error).toMatchObject({ field, code: 'INVALID_REQUEST' });
  });

  it.each(['9007199254740993', '9007199254740992', '-9007199254740992', '1e400', '-1e400', '2.5'])(
    'refuses the numeric id %s (not a safe integer, so not carried exactly), answering with a null id',
    (idText) => {
      const r = refused(withIdText(idText));
      expect(r).toMatchObject({ id: null, code: JSON_RPC.INVALID_REQUEST });
      expect(r.error.field).toBe('id');
      expect(r.error.reason).toMatch(/2\^53/);
    },
  );

  it.each([
    ['a card number', '"4111111111111111"'],
    ['a grouped card number in text', '"order 4111 1111 1111 1111"'],
    ['a card number past the 64 characters a sequence holds (a digest then, never scanned)', `"${'i'.repeat(80)} 5555-5555-5555-4444"`],
    ['a 16-digit card number written as a number (a safe integer)', '4111111111111111'],
  ])('refuses an id holding %s as card data (-32600 naming id), answering with a null id so it is never echoed', (_label, idText) => {
    const r = refused(withIdText(idText));
    expect(r).toMatchObject({ id: null, code: JSON_RPC.INVALID_REQUEST });
    expect(r.error).toMatchObject({ field: 'id', code: 'CARD_DATA_REJECTED' });
    expect(r.error.message).not.toMatch(/4111|5555/);
  });

  it.each([
    ['"rpc-1"', 'rpc-1'],
    ['0', 0],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
    ['-4', -4],
    ['null', null],
  ])('accepts the id %s and keeps it as sent', (idText, id) => {
    expect(accepted(withIdText(idText))).toMatchObject({ id, method: METHOD, notification: false });
  });

  it('tells a notification (no id member) from a request with a null id', () => {
    const body = request();
    delete body.id;
    expect(accepted(body)).toMatchObject({ id: null, notification: true });
    expect(accepted(request({ id: null }))).toMatchObject({ id: null, notification: false });
  });
});

describe('paramsOf', () => {
  it('returns named params', () => {
    expect(paramsOf(accepted(request()))).toEqual({ ok: true, params: { schedule: {} } });
  });

  it.each([
    ['an array', [1, 2]],
    ['null', null],
    ['a string', 'x'],
    ['absent', undefined],
  ])('refuses params that are %s as invalid params (-32602), answering with the id', (_label, params) => {
    expect(paramsOf(accepted(request({ params })))).toMatchObject({
      ok: false,
      id: 'rpc-1',
      code: JSON_RPC.INVALID_PARAMS,
      error: expect.objectContaining({ field: 'params', code: 'INVALID_PARAMS' }),
    });
  });
});
