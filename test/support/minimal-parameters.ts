/** A 24-character bus secret (the minimal parameters carry the shortest the schema accepts, 16). */
export const STRONG_BUS_SECRET = 'a-strong-bus-secret-0123';

/** The required `parameters:` keys of a valid configuration and nothing else, then `overrides`. */
export function minimalParameters(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    'service_bus.url': 'https://bus.example.com/',
    'service_bus.endpoint_name': 'payment-bridge',
    'service_bus.secret': '0123456789abcdef',
    'service_bus.public_url': 'https://payments.example.com/bus',
    'mom_client.client_id': 'pb',
    'mom_client.client_secret': 'client-secret',
    'mom_client.oauth_server_url': 'https://bus.example.com',
    'amqp.url': 'amqp://127.0.0.1:5672',
    'redis.url': 'redis://127.0.0.1:6379',
    ...overrides,
  };
}
