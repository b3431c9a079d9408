import { compareVersions, vhostOf } from '../../../src/doctor/rabbitmq-checks';

describe('compareVersions', () => {
  it.each([
    ['3.10.8', '3.8.0', 1],
    ['3.8.0', '3.8.0', 0],
    ['3.7.28', '3.8.0', -1],
    ['3.9', '3.10.0', -1],
    ['4.0.2', '3.10.0', 1],
    ['3.10.0-rc.1', '3.10.0', 0],
  ])('%s vs %s → %d (numeric per part, not text)', (a, b, want) => {
    expect(compareVersions(a, b)).toBe(want);
  });
});

describe('vhostOf', () => {
  it.each([
    ['amqp://u:p@h:5672', '/'],
    ['amqp://u:p@h:5672/', '/'],
    ['amqp://u:p@h:5672/payment-bridge', 'payment-bridge'],
    ['amqp://u:p@h:5672/%2F', '/'],
    ['amqps://u:p@h/pb%2Fprod', 'pb/prod'],
  ])('%s names vhost %s', (url, vhost) => {
    expect(vhostOf(url)).toBe(vhost);
  });
});
