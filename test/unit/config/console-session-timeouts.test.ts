/**
 * `console.session_idle_ms`: the console's idle timeout, 15 min unless set, checked at start: under a minute
 * (a session would end while its operator reads a page) is refused naming the key; longer than
 * `console.session_ttl_ms` (it would never end one) is warned of, not refused (a lifetime set short before
 * the idle timeout existed must not stop a start).
 */
import { configWarnings } from '../../../src/config/cross-field-rules';
import { ConfigError } from '../../../src/errors/config-error';
import { testConfig } from '../../support/test-config';
import { thrownBy } from '../../support/thrown';

describe('console session timeouts in the configuration', () => {
  it('ends an unused session after 15 min unless told, within the 8 h lifetime', () => {
    expect(testConfig().console).toMatchObject({ sessionTtlMs: 28_800_000, sessionIdleMs: 900_000 });
    expect(testConfig({ 'console.session_idle_ms': 1_800_000 }).console.sessionIdleMs).toBe(1_800_000);
  });

  it('takes a minute or more, and refuses an idle timeout under a minute, or not a whole number, naming console.session_idle_ms', () => {
    expect(testConfig({ 'console.session_idle_ms': 60_000 }).console.sessionIdleMs).toBe(60_000);
    for (const value of [59_999, 0, -1, 1.5, '15m']) {
      const err = thrownBy(() => testConfig({ 'console.session_idle_ms': value }), ConfigError);
      expect(err.key).toBe('console.session_idle_ms');
      if (value === 59_999) expect(err.message).toContain('60000');
    }
  });

  it('warns of an idle timeout longer than the lifetime, naming console.session_idle_ms and the lifetime, without refusing it', () => {
    const enabled = { 'console.enabled': true, 'console.password': 'console-password-0123' };
    const short = testConfig({ ...enabled, 'console.session_ttl_ms': 600_000 });
    expect(configWarnings(short)).toEqual([['console.session_idle_ms', expect.stringContaining('longer than console.session_ttl_ms (600000)')]]);
    expect(configWarnings(testConfig({ ...enabled, 'console.session_ttl_ms': 600_000, 'console.session_idle_ms': 600_000 }))).toEqual([]);
    expect(configWarnings(testConfig(enabled))).toEqual([]);
    // No console, nothing to warn of.
    expect(configWarnings(testConfig({ 'console.session_ttl_ms': 600_000 }))).toEqual([]);
  });
});
