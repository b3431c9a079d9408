/**
 * The console's Host allowlist (`console.allowed_hosts`, see console-hosts.ts): which hosts it answers by
 * default and how a `Host` value compares (case, trailing dot, port, IPv6); and how a refused header is quoted
 * in a log line (masked, no control characters, bounded).
 */
import { ConsoleHosts, MAX_LOGGED_HEADER_CHARS, consoleAllowedHosts, loggableHeader } from '../../../src/console/console-hosts';
import { testConfig } from '../../support/test-config';
import { thrownBy } from '../../support/thrown';
import { ConfigError } from '../../../src/errors/config-error';

describe('console Host allowlist', () => {
  it('answers loopback, the public URL host and a one-address console.bind unless told more; never a wildcard bind', () => {
    expect(consoleAllowedHosts(testConfig({ 'service_bus.public_url': 'https://bridge.example.com:8443/bus' }))).toEqual([
      'localhost',
      '127.0.0.1',
      '[::1]',
      'bridge.example.com',
    ]);
    expect(consoleAllowedHosts(testConfig({ 'console.bind': '10.1.2.3', 'console.allowed_hosts': ['ops.example.com'] }))).toEqual(
      expect.arrayContaining(['10.1.2.3', 'ops.example.com']),
    );
    expect(consoleAllowedHosts(testConfig({ 'console.bind': 'fd00::5' }))).toContain('[fd00::5]');
    // The test configuration's public URL is on 127.0.0.1.
    for (const bind of ['0.0.0.0', '::']) expect(consoleAllowedHosts(testConfig({ 'console.bind': bind }))).toEqual(['localhost', '127.0.0.1', '[::1]']);
  });

  it('compares names without case or a trailing dot, on any port unless the entry names one', () => {
    const hosts = new ConsoleHosts(['localhost', '[::1]', 'console.example.com', 'ops.example.net:8443']);
    for (const ok of ['localhost', 'LocalHost:8081', 'localhost.', '[::1]:8081', 'console.example.com.:443', 'ops.example.net:8443']) {
      expect([ok, hosts.allows(ok)]).toEqual([ok, true]);
    }
    for (const no of [
      undefined,
      '',
      'evil.example',
      'console.example.com.evil.example',
      'evil.console.example.com',
      'ops.example.net',
      'ops.example.net:443',
      '[::2]',
      'localhost:80:80',
      'local host',
      'localhost\r\nx: y',
      'user@localhost',
    ]) {
      expect([no, hosts.allows(no)]).toEqual([no, false]);
    }
  });

  it('takes console.allowed_hosts as names or addresses with an optional port, and refuses anything else naming the key', () => {
    expect(testConfig({ 'console.allowed_hosts': ['console.example.com', '10.0.0.5:8081', '[fd00::1]'] }).console.allowedHosts).toHaveLength(3);
    expect(testConfig().console.allowedHosts).toEqual([]);
    for (const bad of ['https://console.example.com', '*.example.com', 'a b', 'console.example.com/x', '']) {
      expect(thrownBy(() => testConfig({ 'console.allowed_hosts': [bad] }), ConfigError).key).toMatch(/^console\.allowed_hosts/);
    }
  });

  it('quotes a header in a log line masked, without control characters, and bounded with its length said', () => {
    expect(loggableHeader('evil.example')).toBe('evil.example');
    expect(loggableHeader('card-4111111111111111.example')).not.toContain('4111111111111111');
    expect(loggableHeader('a\r\nb\u2028c')).toBe('a??b?c');
    const long = loggableHeader('x'.repeat(10_000));
    expect(long.startsWith('x'.repeat(MAX_LOGGED_HEADER_CHARS))).toBe(true);
    expect(long).toContain('(10000 characters)');
    expect(long.length).toBeLessThan(MAX_LOGGED_HEADER_CHARS + 30);
  });
});
