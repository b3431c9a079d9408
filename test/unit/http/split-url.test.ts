import { splitUrl } from '../../../src/http/outbound-request';

describe('splitUrl', () => {
  it('splits a plain URL at the first slash after the authority, keeping the query', () => {
    expect(splitUrl('http://127.0.0.1:4010/v1/authorizations/pm_1/captures?x=1&y=%20')).toEqual({
      origin: 'http://127.0.0.1:4010',
      path: '/v1/authorizations/pm_1/captures?x=1&y=%20',
    });
    expect(splitUrl('https://[::1]:8443/rpc')).toEqual({ origin: 'https://[::1]:8443', path: '/rpc' });
  });

  it('leaves anything unusual to URL, so the request line is what new URL makes of it', () => {
    expect(splitUrl('http://psp.test/v1/a/../b')).toEqual({ origin: 'http://psp.test', path: '/v1/b' });
    expect(splitUrl('http://psp.test/v1/%2e%2e/b')).toEqual({ origin: 'http://psp.test', path: '/b' });
    expect(splitUrl('http://psp.test/v1/a b#frag')).toEqual({ origin: 'http://psp.test', path: '/v1/a%20b' });
    expect(splitUrl('http://user:pw@psp.test/v1')).toEqual({ origin: 'http://psp.test', path: '/v1' });
    expect(splitUrl('http://psp.test')).toEqual({ origin: 'http://psp.test', path: '/' });
    expect(splitUrl('HTTP://PSP.test:80/v1')).toEqual({ origin: 'http://psp.test', path: '/v1' });
  });
});
