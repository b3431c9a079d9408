/**
 * `parameters.yml` keys the drills pass to the local stack: short backoffs and a short breaker so that a
 * dependency coming back is noticed within about a second (production defaults wait up to a minute), and
 * a fast poller so UNKNOWN/PENDING outcomes left by a crash or an outage are settled during the run.
 */
export const DRILL_PARAMETERS: Readonly<Record<string, unknown>> = {
  'log.level': 'info',
  // Retries of a gateway call: 100 ms, 200 ms, 400 ms… capped at 500 ms, so recovery ≤ ~0.5 s + latency.
  'delivery.backoff_base_ms': 100,
  'delivery.backoff_max_ms': 500,
  // An open breaker probes again after 300 ms.
  'delivery.breaker_open_ms': 300,
  // Notifications to the bus delegate: same reasoning, capped at 500 ms.
  'events.backoff_base_ms': 100,
  'events.backoff_max_ms': 500,
  // Reconnect to RabbitMQ every 250 ms after a broker restart.
  'amqp.reconnect_ms': 250,
  'poller.schedule_ms': [500, 1000, 2000, 4000, 8000],
  'poller.in_process_interval_ms': 500,
};

/** One line describing the recovery-relevant values, for the scripts' reports. */
export function describeDrillParameters(): string {
  const p = DRILL_PARAMETERS;
  return `delivery backoff ${String(p['delivery.backoff_base_ms'])}–${String(p['delivery.backoff_max_ms'])} ms, breaker open ${String(p['delivery.breaker_open_ms'])} ms, events backoff ${String(p['events.backoff_base_ms'])}–${String(p['events.backoff_max_ms'])} ms, AMQP reconnect ${String(p['amqp.reconnect_ms'])} ms`;
}
