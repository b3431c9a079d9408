import { AxiosError } from 'axios';
import { CallState, classifyTransportFailure, transportErrorCode } from '../../../src/http/outbound-http';

const state = (overrides: Partial<CallState> = {}): CallState => ({ phase: 'connecting', timedOut: false, proxyRefused: false, ...overrides });
const coded = (code: string): Error => Object.assign(new Error('irrelevant text'), { code });

describe('transportErrorCode', () => {
  it('reads the code axios copied from the Node error', () => {
    expect(transportErrorCode(AxiosError.from(coded('ECONNREFUSED'), undefined))).toBe('ECONNREFUSED');
  });

  it('looks through a cancellation to the error that caused it', () => {
    const canceled = Object.assign(new Error('canceled'), { code: 'ERR_CANCELED', cause: coded('ECONNRESET') });
    expect(transportErrorCode(canceled)).toBe('ECONNRESET');
  });

  it('reads the first error of an AggregateError from a dual-stack connect', () => {
    expect(transportErrorCode(new AggregateError([coded('EHOSTUNREACH')]))).toBe('EHOSTUNREACH');
  });

  it('reads the code of an error from another realm, which is not instanceof Error here', () => {
    const foreign = Object.create(null) as Record<string, unknown>;
    foreign.code = 'ECONNREFUSED';
    expect(transportErrorCode(foreign)).toBe('ECONNREFUSED');
  });

  it('answers UNKNOWN for something that is not an error', () => {
    expect(transportErrorCode('boom')).toBe('UNKNOWN');
  });
});

describe('classifyTransportFailure', () => {
  it.each([
    'ECONNREFUSED',
    'ENOTFOUND',
    'EAI_AGAIN',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'CERT_HAS_EXPIRED',
    'ERR_SSL_UNSUPPORTED_PROTOCOL',
    'ERR_TLS_CERT_ALTNAME_INVALID',
  ])('classifies %s as not_sent', (code) => {
    expect(classifyTransportFailure(coded(code), state()).kind).toBe('not_sent');
  });

  it('classifies a reset after the socket connected as outcome_unknown', () => {
    expect(classifyTransportFailure(coded('ECONNRESET'), state({ phase: 'sent' }))).toMatchObject({ kind: 'outcome_unknown', code: 'ECONNRESET' });
  });

  it('classifies a reset during connect or handshake as not_sent', () => {
    expect(classifyTransportFailure(coded('ECONNRESET'), state()).kind).toBe('not_sent');
  });

  it('classifies a deadline that fired after connecting as outcome_unknown and one that fired while connecting as not_sent', () => {
    expect(classifyTransportFailure(coded('ERR_CANCELED'), state({ phase: 'sent', timedOut: true }))).toMatchObject({
      kind: 'outcome_unknown',
      code: 'TIMEOUT',
    });
    expect(classifyTransportFailure(coded('ERR_CANCELED'), state({ timedOut: true })).kind).toBe('not_sent');
  });

  it('classifies axios idle timeouts by phase', () => {
    expect(classifyTransportFailure(coded('ECONNABORTED'), state({ phase: 'sent' })).kind).toBe('outcome_unknown');
    expect(classifyTransportFailure(coded('ETIMEDOUT'), state({ phase: 'sent' })).kind).toBe('outcome_unknown');
  });

  it('classifies a connect timeout as not_sent with code ECONNECTTIMEOUT, whatever error the destroyed socket reported', () => {
    expect(classifyTransportFailure(coded('ECONNRESET'), state({ connectTimedOut: true }))).toMatchObject({ kind: 'not_sent', code: 'ECONNECTTIMEOUT' });
    expect(classifyTransportFailure(coded('ECONNECTTIMEOUT'), state()).kind).toBe('not_sent');
  });

  it('classifies a refused proxy tunnel as not_sent whatever the error says', () => {
    expect(classifyTransportFailure(coded('EPIPE'), state({ phase: 'sent', proxyRefused: true })).kind).toBe('not_sent');
  });

  it('never puts the error message into the description', () => {
    expect(classifyTransportFailure(coded('EPIPE'), state({ phase: 'sent' })).description).not.toContain('irrelevant');
  });
});
