import { ConfigError } from '../../../src/errors/config-error';
import { testConfig } from '../../support/test-config';
import { thrownBy } from '../../support/thrown';

function refusal(overrides: Record<string, unknown>): ConfigError {
  return thrownBy(() => testConfig(overrides), ConfigError);
}

describe('console credentials in the configuration', () => {
  it('the console is off by default and then needs no password', () => {
    const config = testConfig();
    expect(config.console).toMatchObject({ enabled: false, bind: '127.0.0.1', port: 8081, path: '/console', username: 'operator', password: '' });
    expect(config.audit.streamMaxLen).toBe(10000);
  });

  it('an enabled console needs a password of 16+ characters, naming console.password', () => {
    const err = refusal({ 'console.enabled': true, 'console.password': 'short' });
    expect(err.key).toBe('console.password');
    expect(err.message).not.toContain('short');
    expect(testConfig({ 'console.enabled': true, 'console.password': 'console-password-0123' }).console.enabled).toBe(true);
  });

  it('refuses the bus secret (or another secret of the bridge) as the console password, without quoting it', () => {
    const bus = refusal({ 'console.enabled': true, 'console.password': 'test-bus-secret-0123456789' });
    expect(bus.key).toBe('console.password');
    expect(bus.message).toContain('service_bus.secret');
    expect(bus.message).not.toContain('test-bus-secret-0123456789');
    const client = refusal({ 'console.enabled': true, 'mom_client.client_secret': 'shared-secret-0123456789', 'console.password': 'shared-secret-0123456789' });
    expect(client.message).toContain('mom_client.client_secret');
  });
});
