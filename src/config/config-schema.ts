/**
 * JSON Schema of `parameters.yml` (the `parameters:` map, Symfony style: flat dotted keys, plus the nested
 * `gateways` map). Every key has a default here or is required; unknown keys are rejected so a typo stops
 * the process at start instead of being silently ignored. `parameters.yml.dist` documents each key.
 * Its validator is generated at build time: after a change, `npm run generate:validators`.
 */
import { gatewaysSchema } from './gateway-config-schema';
import { channelsConfigSchema } from './channels-config';
import { limitsConfigSchema } from './limits-config';
import { routingConfigSchema } from './routing-config';

const positiveInt = { type: 'integer', minimum: 1 } as const;
const nonNegativeInt = { type: 'integer', minimum: 0 } as const;
const nonEmpty = { type: 'string', minLength: 1 } as const;
const httpUrl = { type: 'string', pattern: '^https?://[^\\s]+$' } as const;
const jsonRpcMethod = { type: 'string', pattern: '^[A-Za-z0-9_.]+$' } as const;

/** One token bucket: refill rate (tokens per second) and capacity (burst). */
const rateLimitSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['per_s', 'burst'],
  properties: { per_s: positiveInt, burst: positiveInt },
} as const;

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'service_bus.url',
    'service_bus.endpoint_name',
    'service_bus.secret',
    'service_bus.public_url',
    'mom_client.client_id',
    'mom_client.client_secret',
    'mom_client.oauth_server_url',
    'amqp.url',
    'redis.url',
  ],
  properties: {
    'service_bus.url': httpUrl,
    'service_bus.rpc_path': { type: 'string', pattern: '^/', default: '/' },
    'service_bus.endpoint_name': nonEmpty,
    'service_bus.secret': { type: 'string', minLength: 16 },
    'service_bus.public_url': httpUrl,
    'service_bus.delegate_path': { type: 'string', pattern: '^/', default: '/delegate/oms' },
    'service_bus.subscribes': { type: 'array', items: jsonRpcMethod, default: [] },
    'service_bus.amount_units': { enum: ['minor', 'major'], default: 'minor' },
    // docs/EVENTS.md "Refund pre-notice": before the gateway refund, refund_management.updated PENDINGRELEASE (false: not sent).
    'service_bus.refund_pending_notice': { type: 'boolean', default: true },
    'service_bus.timeout_ms': { ...positiveInt, default: 10000 },
    // Bus and OAuth server: establishing a new connection alone (see config.ts serviceBus.connectTimeoutMs).
    'service_bus.connect_timeout_ms': { ...positiveInt, default: 2000 },
    'service_bus.method.register': { ...jsonRpcMethod, default: 'magento.service_bus.remote.register' },
    'service_bus.method.unregister': { ...jsonRpcMethod, default: 'magento.service_bus.remote.unregister' },
    'service_bus.method.validate': { ...jsonRpcMethod, default: 'magento.payments.payments_management.validate' },
    'service_bus.method.revalidate': { ...jsonRpcMethod, default: 'magento.payments.payments_management.revalidate' },
    'service_bus.method.capture': { ...jsonRpcMethod, default: 'magento.payments.payments_management.capture' },
    'service_bus.method.cancel': { ...jsonRpcMethod, default: 'magento.payments.payments_management.cancel' },
    'service_bus.method.refund': { ...jsonRpcMethod, default: 'magento.payments.payments_management.refund' },
    'service_bus.method.validated': { ...jsonRpcMethod, default: 'magento.payments.payments_management.validated' },
    'service_bus.method.revalidated': { ...jsonRpcMethod, default: 'magento.payments.payments_management.revalidated' },
    'service_bus.method.captured': { ...jsonRpcMethod, default: 'magento.payments.payments_management.captured' },
    'service_bus.method.cancelled': { ...jsonRpcMethod, default: 'magento.payments.payments_management.cancelled' },
    'service_bus.method.refunded': { ...jsonRpcMethod, default: 'magento.payments.payments_management.refunded' },
    'service_bus.method.authorized': { ...jsonRpcMethod, default: 'magento.payments.payments_management.authorized' },
    'service_bus.method.sold': { ...jsonRpcMethod, default: 'magento.payments.payments_management.sold' },
    'service_bus.method.tokenized': { ...jsonRpcMethod, default: 'magento.payments.payments_management.tokenized' },
    'service_bus.method.refund_updated': { ...jsonRpcMethod, default: 'magento.postsales.refund_management.updated' },
    'service_bus.method.authorization_expiring': { ...jsonRpcMethod, default: 'magento.payments.payments_management.authorization_expiring' },
    // Adjustments (late PSP facts: chargebacks, failed captures and refunds…), see docs/EVENTS.md.
    'service_bus.method.adjusted': { ...jsonRpcMethod, default: 'magento.payments.payments_management.adjusted' },
    // Stored value (gift) cards: commands from the bus and their outcome notifications (docs/payment-methods/stored-value.md).
    'service_bus.method.balance_inquiry': { ...jsonRpcMethod, default: 'magento.payments.payments_management.balance_inquiry' },
    'service_bus.method.reload': { ...jsonRpcMethod, default: 'magento.payments.payments_management.reload' },
    'service_bus.method.issue': { ...jsonRpcMethod, default: 'magento.payments.payments_management.issue' },
    'service_bus.method.activate': { ...jsonRpcMethod, default: 'magento.payments.payments_management.activate' },
    'service_bus.method.deactivate': { ...jsonRpcMethod, default: 'magento.payments.payments_management.deactivate' },
    'service_bus.method.merge_balance': { ...jsonRpcMethod, default: 'magento.payments.payments_management.merge_balance' },
    'service_bus.method.balance_reported': { ...jsonRpcMethod, default: 'magento.payments.payments_management.balance_reported' },
    'service_bus.method.reloaded': { ...jsonRpcMethod, default: 'magento.payments.payments_management.reloaded' },
    'service_bus.method.issued': { ...jsonRpcMethod, default: 'magento.payments.payments_management.issued' },
    'service_bus.method.activated': { ...jsonRpcMethod, default: 'magento.payments.payments_management.activated' },
    'service_bus.method.deactivated': { ...jsonRpcMethod, default: 'magento.payments.payments_management.deactivated' },
    'service_bus.method.balance_merged': { ...jsonRpcMethod, default: 'magento.payments.payments_management.balance_merged' },
    'service_bus.method.recurring_failed': { ...jsonRpcMethod, default: 'magento.payments.payments_management.recurring_failed' },
    'service_bus.method.recurring_cycles_skipped': { ...jsonRpcMethod, default: 'magento.payments.payments_management.recurring_cycles_skipped' },
    // Split tender (gift card plus card): the order's overall result (docs/payment-methods/stored-value.md).
    'service_bus.method.split_tender_settled': { ...jsonRpcMethod, default: 'magento.payments.payments_management.split_tender_settled' },

    'mom_client.client_id': nonEmpty,
    'mom_client.client_secret': nonEmpty,
    'mom_client.oauth_server_url': httpUrl,
    'mom_client.token_path': { type: 'string', pattern: '^/', default: '/oauth/token' },
    'mom_client.scope': { type: 'string', default: '' },
    'mom_client.client_auth': { enum: ['header', 'body'], default: 'header' },
    'mom_client.refresh_margin_s': { ...nonNegativeInt, default: 60 },

    'amqp.url': { type: 'string', pattern: '^amqps?://' },
    'amqp.exchange.commands': { ...nonEmpty, default: 'payment-bridge.commands' },
    'amqp.queue.commands': { ...nonEmpty, default: 'worker:payment:command' },
    'amqp.queue.type': { enum: ['quorum', 'classic'], default: 'quorum' },
    'amqp.exchange.dead_letter': { ...nonEmpty, default: 'payment-bridge.dead-letter' },
    'amqp.queue.dead_letter': { ...nonEmpty, default: 'worker:payment:dead-letter' },
    'amqp.prefetch': { ...positiveInt, default: 50 },
    'amqp.publish_timeout_ms': { ...positiveInt, default: 5000 },
    'amqp.reconnect_ms': { ...positiveInt, default: 1000 },
    // --- RabbitMQ cluster (several nodes, quorum queues' dead-lettering) ---
    'amqp.urls': { type: 'array', items: { type: 'string', pattern: '^amqps?://' }, default: [] },
    'amqp.queue.dead_letter_strategy': { enum: ['at-most-once', 'at-least-once'], default: 'at-most-once' },
    // The workers move the dead-letter queue into the archive every so often (src/ops/dead-letter-archiver.ts); 0: off.
    'amqp.dead_letter_archive_interval_ms': { ...nonNegativeInt, default: 10000 },

    'redis.url': { type: 'string', pattern: '^rediss?://' },
    'redis.key_prefix': { type: 'string', pattern: '^[A-Za-z0-9:_-]+$', default: 'pb:' },
    // Redis Cluster: empty nodes = a single Redis at redis.url (see config.ts RedisClusterConfig).
    'redis.cluster.nodes': { type: 'array', items: { type: 'string', pattern: '^[^\\s:/]+:[0-9]{1,5}$' }, default: [] },
    'redis.cluster.retry_delay_ms': { ...positiveInt, default: 400 },
    'redis.cluster.retry_delay_on_moved_ms': { ...nonNegativeInt, default: 100 },
    'redis.cluster.max_redirections': { ...positiveInt, default: 16 },
    'redis.cluster.slots_refresh_interval_ms': { ...positiveInt, default: 5000 },
    // Replica acknowledgement of a new operation's record before it is acted on (see config.ts RedisConfig).
    'redis.replica_acks': { ...nonNegativeInt, default: 0 },
    'redis.replica_ack_timeout_ms': { ...positiveInt, default: 1000 },

    'http.host': { type: 'string', default: '127.0.0.1' },
    'http.port': { type: 'integer', minimum: 0, maximum: 65535, default: 8080 },
    'http.intake_path': { type: 'string', pattern: '^/', default: '/bus' },
    'http.body_limit_bytes': { ...positiveInt, default: 262144 },
    'http.discard_limit_bytes': { ...nonNegativeInt, default: 4194304 },
    'http.discard_timeout_ms': { ...nonNegativeInt, default: 5000 },

    'proxy.host': { type: 'string', default: '' },
    'proxy.port': { type: 'integer', minimum: 0, maximum: 65535, default: 0 },

    'delivery.concurrency': { ...positiveInt, default: 100 },
    'delivery.backoff_base_ms': { ...positiveInt, default: 500 },
    'delivery.backoff_max_ms': { ...positiveInt, default: 60000 },
    'delivery.max_age_ms': { ...nonNegativeInt, default: 0 },
    'delivery.breaker_failure_threshold': { ...positiveInt, default: 20 },
    'delivery.breaker_open_ms': { ...positiveInt, default: 1000 },
    // A gateway missing from the configuration: hold, then park for replay (see delivery/config-hold.ts).
    'delivery.config_grace_ms': { ...nonNegativeInt, default: 1800000 },
    // A PSP's Retry-After is honoured above backoff_max_ms, up to this ceiling (see queueing/backoff.ts).
    'delivery.retry_after_max_ms': { ...positiveInt, default: 300000 },
    'delivery.late_failure_confirm_ms': { ...nonNegativeInt, default: 30000 },
    // A PSP re-capture held for the capture failure it follows is surfaced to operators past this wait.
    'delivery.recapture_failure_wait_ms': { ...positiveInt, default: 86400000 },
    // A modification's webhook that came before the answer naming its operation waits this long to be claimed.
    'delivery.parked_outcome_ttl_ms': { ...positiveInt, default: 2592000000 },
    // A capture void, cancel or refund waiting on a guard between voids and refunds is refused unsent past this wait.
    'delivery.void_wait_max_ms': { ...positiveInt, default: 86400000 },
    // A dependent waiting for its undecided authorization is refused unsent past this wait (at least
    // authentication.max_action_wait_ms: an asynchronous method's customer may pay that late).
    'delivery.authorization_wait_max_ms': { ...positiveInt, maximum: 31536000000, default: 5616000000 },

    'events.concurrency': { ...positiveInt, default: 50 },
    'events.backoff_base_ms': { ...positiveInt, default: 250 },
    'events.backoff_max_ms': { ...positiveInt, default: 30000 },

    // The BullMQ worker watchdog (src/queueing/worker-watchdog.ts): 0 disables it.
    'queues.watchdog_interval_ms': { ...nonNegativeInt, default: 15000 },

    // Lease holders (src/leases/lease-holder.ts): the TTL of a worker's heartbeat, after which a send lease
    // it held is taken over.
    'leases.holder_ttl_ms': { ...positiveInt, minimum: 200, default: 2000 },

    'poller.schedule_ms': {
      type: 'array',
      items: positiveInt,
      minItems: 1,
      default: [60000, 300000, 1800000, 7200000, 86400000],
    },
    'poller.in_process_interval_ms': { ...nonNegativeInt, default: 0 },
    // Giving up and webhook-only operations.
    'poller.unresolved_interval_ms': { ...positiveInt, default: 3600000 },
    'poller.webhook_wait_alert_ms': { ...positiveInt, default: 86400000 },
    'poller.action_expiry_inquiry_max_ms': { ...positiveInt, default: 3600000 },

    'registration.attempts': { ...positiveInt, default: 5 },
    'registration.backoff_base_ms': { ...positiveInt, default: 500 },

    // Authorization lifecycle: expiry, the expiring event, orphan reversal.
    'authorizations.validity_ms': {
      type: 'object',
      default: {},
      propertyNames: { pattern: '^[a-z][a-z0-9_-]*(\\.[a-z0-9_-]+)?$' },
      additionalProperties: positiveInt,
    },
    'authorizations.expiry_warning_ms': { ...nonNegativeInt, default: 86400000 },
    'authorizations.orphan_reversal': { enum: ['off', 'dry_run', 'on'], default: 'dry_run' },
    'authorizations.orphan_void_after_ms': { ...nonNegativeInt, default: 345600000 },
    'authorizations.orphan_void_after_ms_by_account': {
      type: 'object',
      default: {},
      propertyNames: { pattern: '^[a-z][a-z0-9_-]*:.+$' },
      additionalProperties: nonNegativeInt,
    },
    'authorizations.sweep_limit': { ...positiveInt, default: 1000 },

    // Operability: the worker's and poller's monitoring port (/metrics, /healthz, /readyz), shutdown, the poller's pace.
    'monitoring.host': { ...nonEmpty, default: '127.0.0.1' },
    'monitoring.worker_port': { type: 'integer', minimum: 0, maximum: 65535, default: 0 },
    'monitoring.poller_port': { type: 'integer', minimum: 0, maximum: 65535, default: 0 },
    'monitoring.ready_max_event_lag_ms': { ...positiveInt, default: 60000 },
    'shutdown.deadline_ms': { ...positiveInt, default: 30000 },
    'poller.interval_ms': { ...positiveInt, default: 30000 },

    'log.level': { enum: ['error', 'warn', 'info', 'debug'], default: 'info' },
    // Split tender orders (gift card plus card): docs/payment-methods/stored-value.md.
    'split_tender.refund_order': { enum: ['card_first', 'gift_card_first'], default: 'card_first' },
    'split_tender.sweep_interval_ms': { type: 'integer', minimum: 50, maximum: 600000, default: 500 },

    // Transport security: plain-http URLs for the bus, OAuth, public intake and real gateways (development only).
    'security.allow_insecure_http': { type: 'boolean', default: false },

    // --- The edge of the web role: connection caps, timeouts, IP allowlists, trusted proxies, TLS.
    'edge.max_connections': { ...positiveInt, default: 4000 },
    'edge.max_connections_per_ip': { ...positiveInt, default: 512 },
    'edge.headers_timeout_ms': { ...positiveInt, default: 10000 },
    'edge.request_timeout_ms': { ...positiveInt, default: 30000 },
    'edge.keep_alive_timeout_ms': { ...positiveInt, default: 30000 },
    'edge.trusted_proxies': { type: 'array', items: nonEmpty, default: [] },
    'edge.allow.intake': { type: 'array', items: nonEmpty, default: [] },
    'edge.allow.webhooks': {
      type: 'object',
      default: {},
      propertyNames: { pattern: '^([a-z][a-z0-9_-]*|\\*)$' },
      additionalProperties: { type: 'array', items: nonEmpty },
    },
    'edge.allow.admin': { type: 'array', items: nonEmpty, default: [] },
    'edge.tls.cert_file': { type: 'string', default: '' },
    'edge.tls.key_file': { type: 'string', default: '' },
    'edge.tls.ca_file': { type: 'string', default: '' },
    // Rotation of the bus signature secret: commands signed with either are accepted.
    'service_bus.secret_previous': { type: 'string', default: '' },
    'service_bus.secret_next': { type: 'string', default: '' },

    // Operator side: the audit log and the operator console (docs: README, "Operating").
    'audit.stream_max_len': { ...positiveInt, default: 10000 },
    'console.enabled': { type: 'boolean', default: false },
    'console.bind': { type: 'string', minLength: 1, default: '127.0.0.1' },
    'console.port': { type: 'integer', minimum: 0, maximum: 65535, default: 8081 },
    'console.path': { type: 'string', pattern: '^/[A-Za-z0-9_-]+$', default: '/console' },
    'console.username': { type: 'string', pattern: '^[A-Za-z0-9._@-]{1,64}$', default: 'operator' },
    'console.password': { type: 'string', default: '' },
    // Named accounts, each a clear password or an scrypt hash (console-password-hash.ts); instead of username/password.
    'console.accounts': {
      type: 'array',
      default: [],
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['username', 'password', 'role'],
        properties: {
          username: { type: 'string', pattern: '^[A-Za-z0-9._@-]{1,64}$' },
          password: { type: 'string' },
          role: { enum: ['operator', 'viewer'] },
        },
      },
    },
    'console.session_ttl_ms': { ...positiveInt, default: 28800000 },
    // Under a minute ends a session while its operator reads a page.
    'console.session_idle_ms': { type: 'integer', minimum: 60000, default: 900000 },
    'console.stuck_after_ms': { ...positiveInt, default: 300000 },
    'console.secure_cookie': { enum: ['auto', 'always'], default: 'auto' },
    // Names (or addresses) the console answers besides loopback, the public URL's host and console.bind; optional :port.
    'console.allowed_hosts': {
      type: 'array',
      items: { type: 'string', pattern: '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)\\.?(:[0-9]{1,5})?$' },
      default: [],
    },
    // Channels: per-channel credentials, validation profiles, card data in free text, dead-letter triage (src/config/channels-config.ts).
    ...channelsConfigSchema,
    // Orchestration: routing rules, merchant agreements, failover, payment method options (src/config/routing-config.ts).
    ...routingConfigSchema,

    // Spikes: rate limits per channel and per account (Redis token buckets shared by every process), and
    // backpressure on a backlog of the commands queue (see README "Spikes: rate limits and backpressure").
    'rate_limits.enabled': { type: 'boolean', default: true },
    'rate_limits.channel_per_s': { ...positiveInt, default: 10000 },
    'rate_limits.channel_burst': { ...positiveInt, default: 20000 },
    'rate_limits.account_per_s': { ...positiveInt, default: 5000 },
    'rate_limits.account_burst': { ...positiveInt, default: 10000 },
    'rate_limits.by_channel': {
      type: 'object',
      default: {},
      propertyNames: { enum: ['bus', 'web', 'pos', 'marketplace'] },
      additionalProperties: rateLimitSchema,
    },
    'rate_limits.by_account': {
      type: 'object',
      default: {},
      propertyNames: { pattern: '^[a-z][a-z0-9_-]*:.+$' },
      additionalProperties: rateLimitSchema,
    },
    'rate_limits.lease_tokens': { type: 'integer', minimum: 1, maximum: 100, default: 8 },
    // Under 50 ms a loaded machine's ordinary round trip would count as Redis down (commands let through
    // unlimited); past 5 s the Redis client's own command timeout (5 s, redis-connection) ends the take first,
    // counted as an outage: a longer deadline would never be reached. On a Cluster the retry delay comes on top
    // of it (takeDeadlineMs): the sum is checked against the timeout too (config/take-deadline.ts).
    'rate_limits.take_deadline_ms': { type: 'integer', minimum: 50, maximum: 5000, default: 500 },
    'backpressure.max_backlog': { ...nonNegativeInt, default: 20000 },
    'backpressure.retry_after_s': { type: 'integer', minimum: 1, maximum: 3600, default: 5 },
    'backpressure.depth_cache_ms': { ...positiveInt, default: 500 },
    'backpressure.priority_lane': { type: 'boolean', default: true },

    // Adaptive in-flight: commands a worker works on at once follow PSP latency and memory (src/admission/inflight-controller.ts).
    'inflight.adaptive': { type: 'boolean', default: true },
    'inflight.min': { ...positiveInt, default: 16 },
    'inflight.max': { type: 'integer', minimum: 1, maximum: 65535, default: 512 },
    'inflight.initial': { ...positiveInt, default: 64 },
    'inflight.memory_budget_mib': { ...positiveInt, default: 143 },
    'inflight.lag_limit_ms': { ...positiveInt, default: 100 },
    'inflight.interval_ms': { type: 'integer', minimum: 100, default: 500 },

    // Orchestration limits: caps, risk rules, currency conversion (src/config/limits-config.ts).
    ...limitsConfigSchema,

    // Reconciliation against the PSPs' own records (src/reconciliation/, docs/RECONCILIATION.md).
    'reconciliation.schedule': { enum: ['off', 'dry_run', 'on'], default: 'off' },
    'reconciliation.interval_ms': { ...positiveInt, default: 3600000 },
    'reconciliation.window_ms': { ...positiveInt, default: 3600000 },
    'reconciliation.lag_ms': { ...nonNegativeInt, default: 7200000 },
    'reconciliation.gateways': { type: 'array', items: nonEmpty, uniqueItems: true, default: [] },
    'reconciliation.request_timeout_ms': { ...positiveInt, default: 30000 },
    'reconciliation.download_deadline_ms': { ...positiveInt, maximum: 2147483647, default: 900000 },
    'reconciliation.state_ttl_days': { ...positiveInt, default: 35 },
    'reconciliation.lookups_per_run': { ...nonNegativeInt, maximum: 100000, default: 500 },
    'reconciliation.report_dir': { type: 'string', default: '' },

    // Data lifecycle: retention of terminal operations (docs/DATA.md, "Retention").
    'retention.enabled': { type: 'boolean', default: true },
    'retention.expire_after_days': { type: 'integer', minimum: 30, maximum: 3650, default: 400 },
    'retention.archive_dir': { type: 'string', default: 'var/archive' },
    'retention.batch': { type: 'integer', minimum: 1, maximum: 10000, default: 500 },
    'retention.require_reconciliation': { type: 'boolean', default: false },
    // --- Payment methods: 3-D Secure / redirect hand-off, recurring billing (docs/PAYMENT-METHODS.md).
    'authentication.action_timeout_ms': { ...positiveInt, default: 900000 },
    // The fixed waits of the actions that take longer (delivery/action-deadline.ts), each at most max_action_wait_ms.
    'authentication.qr_code_timeout_ms': { ...positiveInt, maximum: 31536000000, default: 86400000 },
    'authentication.voucher_timeout_ms': { ...positiveInt, maximum: 31536000000, default: 604800000 },
    'authentication.bank_transfer_timeout_ms': { ...positiveInt, maximum: 31536000000, default: 1209600000 },
    // At most a year each: a PSP's voucher runs days, Stripe's longest (Boleto) 60 of them.
    'authentication.action_deadline_grace_ms': { ...nonNegativeInt, maximum: 31536000000, default: 259200000 },
    'authentication.max_action_wait_ms': { ...positiveInt, maximum: 31536000000, default: 5356800000 },
    'recurring.retry_schedule_ms': { type: 'array', maxItems: 10, items: positiveInt, default: [86400000, 259200000, 432000000] },
    'recurring.run_limit': { ...positiveInt, default: 500 },
    'recurring.ended_retention_days': { type: 'integer', minimum: 30, maximum: 3650, default: 400 },
    // Recurring schedule management over the bus (JSON-RPC, answered at once by the intake).
    'recurring.rpc_method.create': { type: 'string', pattern: '^[A-Za-z0-9_.]+$', default: 'magento.payments.recurring_management.create' },
    'recurring.rpc_method.list': { type: 'string', pattern: '^[A-Za-z0-9_.]+$', default: 'magento.payments.recurring_management.list' },
    'recurring.rpc_method.cancel': { type: 'string', pattern: '^[A-Za-z0-9_.]+$', default: 'magento.payments.recurring_management.cancel' },

    // Each gateway's keys come from its own definition (src/gateways/<name>/<name>-gateway.ts).
    gateways: gatewaysSchema(),
  },
} as const;
