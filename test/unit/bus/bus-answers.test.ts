import { HostileJson, Json } from '../../../harness/drills/hostile-json';
import { errorProblem, panIn } from '../../../harness/drills/psp-input-fuzz';
import { TEST_PANS } from '../../../harness/drills/test-card-numbers';
import { seededRandom } from '../../../harness/workload/payment-scenarios';
import { BusAnswer, bearerChallenge, readNotifyAnswer, readRpcAnswer } from '../../../src/bus/bus-answers';
import { BusAuthenticationError, BusRequestError, BusRpcError, PeerUnavailableError } from '../../../src/bus/bus-errors';
import { MAX_ACCESS_TOKEN_CHARS, MAX_BUS_TEXT_CHARS, busText } from '../../../src/bus/bus-text';
import { MAX_TOKEN_LIFETIME_S, MIN_TOKEN_LIFETIME_S, oauthErrorCode, readTokenAnswer } from '../../../src/bus/oauth-token-provider';
import { contentRejection } from '../../../src/events/event-rejection';
import { registerRecentToken } from '../../../src/logging/redact';

/**
 * The bus's answers to our calls, read by pure functions: the JSON-RPC answer to register/unregister, the answer
 * to an event notification, the OAuth server's token answer. Whatever the peer sends, each ends in a value or
 * an error of the taxonomy, in bounded time, with no card number, no access token and no text of unbounded
 * length in the error.
 */
const URL_RPC = 'https://bus.example/rpc';
const URL_DELEGATE = 'https://bus.example/delegate';
const URL_TOKEN = 'https://oauth.example/token';
const ID = '6b1f4a52-7f0e-4d0c-9a51-0c1f2e3d4b5a';
/** An access token of ours, as the provider registers it with the redactor. */
const TOKEN = `eyJhbGciOiJSUzI1NiJ9.${'p'.repeat(900)}.sig-${'s'.repeat(300)}`;
const VISA = TEST_PANS[0];
const STATUSES = [200, 204, 302, 400, 404, 413, 422];

registerRecentToken(TOKEN);

/**
 * What is wrong with how a reader ended: a problem of the error (`errorProblem`), or our token (or a part of it)
 * in it; null when nothing. `tokenCheck` false: a byte that is no UTF-8 was inserted into the body, perhaps
 * inside the token the bus quotes; what is left is no token of ours (nor one the redactor can know).
 */
function problemOf(read: () => unknown, tokenCheck = true): string | null {
  try {
    read();
    return null;
  } catch (err) {
    const problem = errorProblem(err);
    if (problem !== null) return problem;
    const text = `${(err as Error).message} ${(err as { rpcMessage?: string }).rpcMessage ?? ''} ${(err as { oauthError?: string }).oauthError ?? ''}`;
    if (tokenCheck && (text.includes(TOKEN.slice(0, 40)) || text.includes(TOKEN.slice(-40)))) return 'our access token (or part of it) in the error';
    return null;
  }
}

const SEEDS: Array<{ name: string; seed: Json; read: (answer: BusAnswer & { headers: Record<string, string> }) => unknown }> = [
  { name: 'register result', seed: { jsonrpc: '2.0', id: ID, result: {} }, read: (a) => readRpcAnswer(a, URL_RPC) },
  {
    name: 'register refusal',
    seed: { jsonrpc: '2.0', id: ID, error: { code: -32602, message: `Invalid params: ${TOKEN}`, data: { card: 'x' } } },
    read: (a) => readRpcAnswer(a, URL_RPC),
  },
  { name: 'notification answer', seed: { jsonrpc: '2.0', id: null, result: { accepted: true } }, read: (a) => readNotifyAnswer(a, URL_DELEGATE) },
  {
    name: 'notification refusal',
    seed: { jsonrpc: '2.0', id: null, error: { code: -32602, message: 'order locked' } },
    read: (a) => readNotifyAnswer(a, URL_DELEGATE),
  },
  { name: 'token', seed: { access_token: 'tok-abc-123', token_type: 'Bearer', expires_in: 3600, scope: 'bus' }, read: (a) => readTokenAnswer(a, URL_TOKEN) },
  {
    name: 'token refusal',
    seed: { error: 'invalid_client', error_description: `client secret wrong for ${TOKEN}` },
    read: (a) => readTokenAnswer(a, URL_TOKEN),
  },
];

describe('hostile bus answers, seeded', () => {
  it.each([[20_261_204], [11]])(
    'reads 200 seeded hostile variants of each answer (seed %p) as the rule says',
    (seed) => {
      const hostile = new HostileJson(seededRandom(seed));
      const problems: string[] = [];
      let slowest = 0;
      for (const { name, seed: doc, read } of SEEDS) {
        for (let n = 0; n < 200; n += 1) {
          const variant = hostile.variant(doc);
          const status = hostile.pick(STATUSES);
          const started = performance.now();
          const problem = problemOf(() => read({ status, body: variant.body.toString('utf8'), headers: {} }), variant.kind !== 'not UTF-8');
          slowest = Math.max(slowest, performance.now() - started);
          if (problem !== null) problems.push(`${name} #${n} ${variant.kind} at ${variant.path || 'the body'}, HTTP ${status}: ${problem}`);
        }
      }
      expect(problems).toEqual([]);
      // Bounded work per answer (2 MiB bodies, nesting 900 000 deep among them); generous for a loaded machine.
      expect(slowest).toBeLessThan(5_000);
    },
    120_000,
  );
});

describe('readRpcAnswer', () => {
  const read =
    (body: unknown, status = 200) =>
    () =>
      readRpcAnswer({ status, body: typeof body === 'string' ? body : JSON.stringify(body) }, URL_RPC);

  it('returns the result of the answer to our call', () => {
    expect(read({ jsonrpc: '2.0', id: ID, result: { ok: true } })()).toEqual({ ok: true });
    expect(read({ jsonrpc: '2.0', id: ID, result: null })()).toBeNull();
  });

  it.each([
    ['not JSON', '<html>502</html>'],
    ['empty', ''],
    ['JSON-RPC 1.0', { jsonrpc: '1.0', id: ID, result: {} }],
    ['an array (a batch)', [{ jsonrpc: '2.0', id: ID, result: {} }]],
    ['nested deep', '['.repeat(200_000) + ']'.repeat(200_000)],
  ])('refuses an answer that is no JSON-RPC response (%s) as BusRequestError', (_name, body) => {
    expect(read(body)).toThrow(BusRequestError);
  });

  it.each([
    ['another id', { jsonrpc: '2.0', id: 'someone-else', result: {} }],
    ['a numeric id', { jsonrpc: '2.0', id: 1, result: {} }],
    ['a null id', { jsonrpc: '2.0', id: null, result: {} }],
    ['no id', { jsonrpc: '2.0', result: {} }],
  ])('takes the result whatever id the answer names (%s): it answers this HTTP request', (_name, body) => {
    expect(read(body)()).toEqual({});
  });

  it('refuses an answer without result or error', () => {
    expect(read({ jsonrpc: '2.0', id: ID })).toThrow(/without a result or an error/);
  });

  it('reads a JSON-RPC error as BusRpcError with its integer code, whatever the status; a code that is no integer is 0', () => {
    const error = (code: unknown) => {
      try {
        read({ jsonrpc: '2.0', id: null, error: { code, message: 'Invalid params' } }, 400)();
      } catch (err) {
        return err as BusRpcError;
      }
      throw new Error('no error');
    };
    expect(error(-32602)).toMatchObject({ rpcCode: -32602, rpcMessage: 'Invalid params' });
    for (const code of ['-32602', 1.5, 1e300, 4111111111111111, null, { a: 1 }]) expect(error(code).rpcCode).toBe(0);
    expect(error(4111111111111111).message).not.toContain('4111111111111111');
    // A code that is no integer is no content refusal: retried, never set aside.
    expect(contentRejection(error('-32602'))).toBeNull();
  });

  it('masks a card number and our access token in the bus’s message, and cuts a huge one', () => {
    const message = `card ${VISA} refused for Bearer ${TOKEN}, token ${TOKEN} ${'x'.repeat(5_000_000)}`;
    let err: BusRpcError | undefined;
    try {
      read({ jsonrpc: '2.0', id: ID, error: { code: -32000, message } })();
    } catch (e) {
      err = e as BusRpcError;
    }
    expect(err).toBeInstanceOf(BusRpcError);
    expect(err!.message).not.toContain(VISA);
    expect(err!.message).not.toContain(TOKEN.slice(0, 30));
    expect(err!.rpcMessage.length).toBeLessThan(MAX_BUS_TEXT_CHARS + 40);
    expect(err!.message).toContain(`(${message.length} characters)`);
  });

  it('refuses a non-2xx answer with a result', () => {
    expect(read({ jsonrpc: '2.0', id: ID, result: {} }, 404)).toThrow(/HTTP 404/);
  });
});

describe('readNotifyAnswer', () => {
  const read =
    (body: string, status = 200) =>
    () =>
      readNotifyAnswer({ status, body }, URL_DELEGATE);

  it('takes any 2xx without a JSON-RPC error, whatever its body', () => {
    for (const body of ['', 'ok', '{"error":null}', '{"error":"refused"}', '['.repeat(100_000), `{"note":"${'e'.repeat(1_000_000)}rror"}`])
      expect(read(body)).not.toThrow();
  });

  it('refuses a 2xx carrying a JSON-RPC error, its message made safe', () => {
    expect(read(`{"jsonrpc":"2.0","id":null,"error":{"code":-32602,"message":"card ${VISA} ${'y'.repeat(100_000)}"}}`)).toThrow(BusRpcError);
    try {
      read(`{"error":{"code":-32602,"message":"card ${VISA} ${'y'.repeat(100_000)}"}}`)();
    } catch (err) {
      expect(panIn({ message: (err as Error).message })).toBeNull();
      expect((err as Error).message.length).toBeLessThan(400);
      expect(contentRejection(err)).toBe('rpc_-32602');
    }
  });

  it('refuses another status as BusRequestError, a content refusal for 400, 413 and 422', () => {
    expect(read('{}', 422)).toThrow(BusRequestError);
    try {
      read('{}', 413)();
    } catch (err) {
      expect(contentRejection(err)).toBe('http_413');
    }
  });
});

describe('readTokenAnswer', () => {
  const read = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
    readTokenAnswer({ status, body: typeof body === 'string' ? body : JSON.stringify(body), headers }, URL_TOKEN);
  const thrown = (f: () => unknown): Error => {
    try {
      f();
    } catch (err) {
      return err as Error;
    }
    throw new Error('no error');
  };

  it.each([
    ['a number', 3600, 3600],
    ['a string of digits', '3599', 3599],
    ['a fraction', 90.5, 90.5],
    ['the floor', MIN_TOKEN_LIFETIME_S, MIN_TOKEN_LIFETIME_S],
    ['a day', MAX_TOKEN_LIFETIME_S, MAX_TOKEN_LIFETIME_S],
    ['negative', -60, 300],
    ['zero', 0, 300],
    ['negative zero', -0, 300],
    ['absent', undefined, 300],
    ['null', null, 300],
    ['a string that is no number', '1h', 300],
    ['a string of a negative number', '-60', 300],
    ['a string of digits no number of seconds can be', '9'.repeat(33), 300],
    ['beyond what a number holds (1e400)', '@1e400', 300],
    ['-1e400', '@-1e400', 300],
    ['true', true, 300],
  ])('takes expires_in %s (%p) as a lifetime of %p seconds', (_name, expiresIn, lifetime) => {
    const body =
      typeof expiresIn === 'string' && expiresIn.startsWith('@')
        ? `{"access_token":"tok-abc-123","expires_in":${expiresIn.slice(1)}}`
        : { access_token: 'tok-abc-123', ...(expiresIn === undefined ? {} : { expires_in: expiresIn }) };
    expect(read(body)).toEqual({ token: 'tok-abc-123', lifetimeS: lifetime });
  });

  it.each([
    ['a second past a day', MAX_TOKEN_LIFETIME_S + 1],
    ['10^12 (milliseconds sent as seconds, or a bug)', 1e12],
    ['huge', 1e300],
    ['the largest number', Number.MAX_VALUE],
    ['a string of 20 digits', '99999999999999999999'],
  ])('plans a lifetime beyond a day (%s) as a day, saying the server’s value', (_name, expiresIn) => {
    expect(read({ access_token: 'tok-abc-123', expires_in: expiresIn })).toEqual({
      token: 'tok-abc-123',
      lifetimeS: MAX_TOKEN_LIFETIME_S,
      clampedFromS: Number(expiresIn),
    });
  });

  it.each([
    ['half a second', 0.5],
    ['a second', 1],
    ['a second under the floor', MIN_TOKEN_LIFETIME_S - 1],
    ['a string of digits', '29'],
    ['the smallest positive number', Number.MIN_VALUE],
  ])('plans a lifetime under 30 s (%s) as 30 s, saying the server’s value', (_name, expiresIn) => {
    expect(MIN_TOKEN_LIFETIME_S).toBe(30);
    expect(read({ access_token: 'tok-abc-123', expires_in: expiresIn })).toEqual({
      token: 'tok-abc-123',
      lifetimeS: MIN_TOKEN_LIFETIME_S,
      clampedFromS: Number(expiresIn),
    });
  });

  it.each([
    ['a line break', 'tok\r\nX-Injected: 1'],
    ['a NUL', 'tok\u0000x'],
    ['a non-ASCII letter', 'tok-é'],
    ['a tab', 'tok\tx'],
    ['more than 16 KiB', 't'.repeat(MAX_ACCESS_TOKEN_CHARS + 1)],
  ])('refuses an access token holding %s (no header can carry it), never quoting it', (_name, token) => {
    const err = thrown(() => read({ access_token: token, expires_in: 3600 }));
    expect(err).toBeInstanceOf(BusRequestError);
    expect(err.message).toMatch(/no HTTP header can carry/);
    expect(err.message).not.toContain(token.slice(0, 12));
  });

  it('takes a 16 KiB token of printable ASCII', () => {
    const token = 'T'.repeat(MAX_ACCESS_TOKEN_CHARS);
    expect(read({ access_token: token }).token).toBe(token);
  });

  it.each([
    ['a card number', VISA],
    ['our access token', TOKEN],
    ['a huge text', 'e'.repeat(2_000_000)],
    ['a quote', 'invalid"client'],
    ['an object', { code: 'invalid_client' }],
  ])('quotes no OAuth error code that is %s', (_name, code) => {
    const err = thrown(() => read({ error: code }, 400));
    expect(err).toBeInstanceOf(BusRequestError);
    expect(err.message).not.toContain(VISA);
    expect(err.message).not.toContain(TOKEN.slice(0, 30));
    expect(err.message.length).toBeLessThan(400);
  });

  it('classifies by status and the OAuth code: credentials, unavailable, refused', () => {
    expect(thrown(() => read({ error: 'invalid_client' }, 400))).toBeInstanceOf(BusAuthenticationError);
    expect(thrown(() => read('not json', 401))).toBeInstanceOf(BusAuthenticationError);
    expect(thrown(() => read('<html>', 503, { 'retry-after': '7' }))).toMatchObject({ retryAfterMs: 7000 });
    expect(thrown(() => read('<html>', 503))).toBeInstanceOf(PeerUnavailableError);
    expect(thrown(() => read('["access_token"]'))).toBeInstanceOf(BusRequestError);
    expect(thrown(() => read({ access_token: 42 }))).toBeInstanceOf(BusRequestError);
  });

  it.each([['Bearer'], ['bearer'], ['BEARER'], ['bEaReR'], [undefined], [null]])(
    'takes a token whose token_type is %p (RFC 6749 §5.1: case-insensitive; a missing one taken as Bearer)',
    (tokenType) => {
      const body = { access_token: 'tok-abc-123', expires_in: 3600, ...(tokenType === undefined ? {} : { token_type: tokenType }) };
      expect(read(body)).toEqual({ token: 'tok-abc-123', lifetimeS: 3600 });
    },
  );

  it.each([
    ['DPoP', 'DPoP', '"DPoP"'],
    ['mac', 'mac', '"mac"'],
    ['N_A', 'N_A', '"N_A"'],
    ['empty', '', '(a string of 0 characters)'],
    ['Bearer with a space', 'Bearer ', '(a string of 7 characters)'],
    ['a URI', 'urn:ietf:params:oauth:token-type:jwt', '(a string of 36 characters)'],
    ['a number', 1, '(a number)'],
    ['true', true, '(a boolean)'],
    ['an array', ['Bearer'], '(an array)'],
    ['an object', { type: 'Bearer' }, '(an object)'],
  ])('refuses a token whose token_type is %s, naming the field', (_name, tokenType, quoted) => {
    const err = thrown(() => read({ access_token: 'tok-abc-123', token_type: tokenType, expires_in: 3600 }));
    expect(err).toBeInstanceOf(BusRequestError);
    expect(err.message).toBe(
      `the OAuth server at ${URL_TOKEN} answered with token_type ${quoted}, not Bearer: the bus client sends its token as a Bearer token (RFC 6750) and cannot use another type; check mom_client.oauth_server_url and mom_client.token_path`,
    );
  });

  it.each([
    ['a card number', VISA],
    ['a card number as a number', Number(VISA)],
    ['the access token it issued', 'tok-abc-123'],
    ['our access token', TOKEN],
    ['a megabyte', 'x'.repeat(1024 * 1024)],
  ])('refuses a token_type that is %s without quoting it', (_name, tokenType) => {
    const err = thrown(() => read({ access_token: 'tok-abc-123', token_type: tokenType }));
    expect(err).toBeInstanceOf(BusRequestError);
    expect(err.message).toContain('token_type');
    expect(err.message).not.toContain(VISA);
    expect(err.message).not.toContain('tok-abc-123');
    expect(err.message).not.toContain(TOKEN.slice(0, 30));
    expect(err.message.length).toBeLessThan(400);
  });

  it('oauthErrorCode keeps a code and masks a card number in one', () => {
    expect(oauthErrorCode('invalid_scope')).toBe('invalid_scope');
    expect(oauthErrorCode(`x${VISA}`)).not.toContain(VISA);
    expect(oauthErrorCode('a'.repeat(65))).toBeUndefined();
  });
});

describe('busText', () => {
  it('masks a token the cut crosses whole, and costs no more for megabytes of digits', () => {
    const text = `${'a'.repeat(MAX_BUS_TEXT_CHARS - 10)} ${TOKEN}`;
    expect(busText(text)).not.toContain(TOKEN.slice(0, 8));
    const started = performance.now();
    expect(busText('4111 '.repeat(1_600_000)).length).toBeLessThan(MAX_BUS_TEXT_CHARS + 40);
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe('bearerChallenge (RFC 6750 §3)', () => {
  const read = (value: string) => bearerChallenge({ 'www-authenticate': value });

  it.each([
    ['quoted', 'Bearer realm="bus", error="insufficient_scope", scope="bus:delegate"', { error: 'insufficient_scope', scope: 'bus:delegate' }],
    ['unquoted, any case', 'bearer error=invalid_token', { error: 'invalid_token' }],
    ['a description that names another error', 'Bearer error_description="error=x", error="invalid_token"', { error: 'invalid_token' }],
    ['no error', 'Bearer realm="bus"', {}],
    ['another scheme', 'Basic realm="bus", error="invalid_token"', {}],
    ['an error no code is', `Bearer error="${'e'.repeat(65)}"`, {}],
    ['a scope too long to quote', `Bearer error="insufficient_scope", scope="${'s'.repeat(129)}"`, { error: 'insufficient_scope' }],
    // RFC 9110 §11.6.1: a list of challenges (two header lines arrive joined by a comma); RFC 9449 §7.1's DPoP first.
    [
      'a Bearer challenge after another',
      'DPoP algs="ES256 PS256", Bearer realm="bus", error="insufficient_scope", scope="bus:delegate"',
      { error: 'insufficient_scope', scope: 'bus:delegate' },
    ],
    ["only the Bearer challenge's own params", 'Bearer realm="bus", Basic realm="x", error="invalid_token"', {}],
    // RFC 9110 §11.3: a challenge may carry a token68 instead of params, its '=' padding included.
    [
      'a Bearer challenge after a token68 one',
      'Negotiate YIIBxQYGKwYBBQUCoIIBuTCC+/a==, Bearer error="insufficient_scope", scope="bus:delegate"',
      {
        error: 'insufficient_scope',
        scope: 'bus:delegate',
      },
    ],
    ['a Bearer challenge after an unpadded token68 one', 'Negotiate abc, Bearer error="invalid_token"', { error: 'invalid_token' }],
    // The description is the bus's free text: nothing in it is read, whether it sits before or after the params.
    ['a description that says scope=', 'Bearer error="insufficient_scope", error_description="grant the token scope=admin"', { error: 'insufficient_scope' }],
    ['a description that says error= after a space', 'Bearer error_description="see error=x", error="invalid_token"', { error: 'invalid_token' }],
    [
      'a description with escaped quotes',
      'Bearer error_description="say \\"error=\\"invalid_token\\" scope=\\"admin\\"\\"", error="insufficient_scope", scope="bus:delegate"',
      { error: 'insufficient_scope', scope: 'bus:delegate' },
    ],
    ['an unterminated quote', 'Bearer error="insufficient_scope", scope="bus:delegate', { error: 'insufficient_scope' }],
  ])('reads %s', (_name, value, expected) => {
    expect(read(value)).toEqual(expected);
  });

  it('reads a long or hostile header in linear time, never past its first 4096 characters', () => {
    const started = performance.now();
    expect(read(`Bearer ${'a="'.repeat(200_000)}`)).toEqual({});
    expect(read(`Bearer ${'x=y, '.repeat(200_000)}error="invalid_token"`)).toEqual({});
    expect(read(`Bearer error="insufficient_scope", ${'x=y,'.repeat(2_000)}`)).toEqual({ error: 'insufficient_scope' });
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('reads nothing without the header, and never quotes a card number from the scope', () => {
    expect(bearerChallenge({})).toEqual({});
    const { scope } = read('Bearer error="insufficient_scope", scope="4111111111111111"');
    expect(scope ?? '').not.toContain('4111111111111111');
  });
});
