import type { Config } from './config';
import { edgeProblems } from './edge-checks';
import { consoleCredentialProblems, consoleHashParameterWarnings } from './console-credentials';
import { channelsConfigProblems } from './channels-config';
import { limitsConfigProblems } from './limits-config';
import { routingConfigProblems } from './routing-config';
import { takeDeadlineProblems } from './take-deadline';
import { gatewayDefinition } from '../gateways/gateway-registry';
import { vaultDeclarationProblems } from '../gateways/gateway-vaults';

/**
 * Rules that span several keys, which a JSON Schema cannot say: each returns `[key, problem]` for what it
 * finds, naming the key to change. Checked after the schema, so every value is present and well typed.
 */
type Problem = [key: string, problem: string];
type Rule = (config: Config) => Problem[];

const backoffOrder: Rule = (c) => {
  const out: Problem[] = [];
  if (c.delivery.backoffBaseMs > c.delivery.backoffMaxMs) {
    out.push(['delivery.backoff_base_ms', `(${c.delivery.backoffBaseMs}) must not exceed delivery.backoff_max_ms (${c.delivery.backoffMaxMs})`]);
  }
  if (c.events.backoffBaseMs > c.events.backoffMaxMs) {
    out.push(['events.backoff_base_ms', `(${c.events.backoffBaseMs}) must not exceed events.backoff_max_ms (${c.events.backoffMaxMs})`]);
  }
  return out;
};

const pollScheduleAscending: Rule = (c) => {
  const s = c.poller.scheduleMs;
  const i = s.findIndex((v, k) => k > 0 && v < s[k - 1]);
  return i < 0 ? [] : [[`poller.schedule_ms[${i}]`, `(${s[i]}) is shorter than the step before it (${s[i - 1]}): the schedule waits longer and longer`]];
};

const distinctQueues: Rule = (c) => {
  const out: Problem[] = [];
  if (c.amqp.commandsQueue === c.amqp.deadLetterQueue)
    out.push(['amqp.queue.dead_letter', 'must differ from amqp.queue.commands (dead letters would be consumed again)']);
  if (c.amqp.commandsExchange === c.amqp.deadLetterExchange) out.push(['amqp.exchange.dead_letter', 'must differ from amqp.exchange.commands']);
  // Classic queues have no dead-letter strategy: at-least-once would be silently at-most-once.
  if (c.amqp.deadLetterStrategy === 'at-least-once' && c.amqp.queueType !== 'quorum')
    out.push(['amqp.queue.dead_letter_strategy', 'at-least-once needs amqp.queue.type: quorum (classic queues dead-letter at most once)']);
  return out;
};

// Harmless (the lifetime ends a session first), so not refused: a lifetime set under the idle timeout's
// default before the idle timeout existed must not stop a start after an upgrade.
const consoleIdleBeyondLifetime: Rule = (c) =>
  c.console.enabled && c.console.sessionIdleMs > c.console.sessionTtlMs
    ? [
        [
          'console.session_idle_ms',
          `(${c.console.sessionIdleMs}) is longer than console.session_ttl_ms (${c.console.sessionTtlMs}): no session is ever idle that long, the lifetime ends it first; set it at most the lifetime`,
        ],
      ]
    : [];

const proxyPair: Rule = (c) => {
  if (c.proxy.host !== '' && c.proxy.port === 0) return [['proxy.port', 'is required when proxy.host is set']];
  if (c.proxy.host === '' && c.proxy.port !== 0) return [['proxy.host', 'is required when proxy.port is set']];
  return [];
};

const accountOverridesNameGateways: Rule = (c) =>
  Object.keys(c.authorizations.orphanVoidAfterMsByAccount)
    .filter((k) => !(k.slice(0, k.indexOf(':')) in c.gateways))
    .map((k): Problem => [
      `authorizations.orphan_void_after_ms_by_account.${k}`,
      `names gateway "${k.slice(0, k.indexOf(':'))}", which is not configured under gateways`,
    ]);

/**
 * A fixed wait for a customer's action (a QR code, a voucher, a bank transfer) longer than the longest the
 * bridge waits on any deadline would be cut silently; said at start instead.
 */
const actionWaitsWithinMaximum: Rule = (c) => {
  const a = c.authentication;
  const waits: Array<[string, number]> = [
    ['authentication.qr_code_timeout_ms', a.qrCodeTimeoutMs],
    ['authentication.voucher_timeout_ms', a.voucherTimeoutMs],
    ['authentication.bank_transfer_timeout_ms', a.bankTransferTimeoutMs],
  ];
  return waits
    .filter(([, ms]) => ms > a.maxActionWaitMs)
    .map(([key, ms]): Problem => [key, `(${ms}) must not exceed authentication.max_action_wait_ms (${a.maxActionWaitMs})`]);
};

/**
 * A dependent's wait for its authorization shorter than the longest customer action would refuse the capture of a
 * voucher or bank transfer payment the customer may still pay (the OMS told it FAILED while the payment goes through).
 */
const authorizationWaitOutlastsActions: Rule = (c) =>
  c.delivery.authorizationWaitMaxMs < c.authentication.maxActionWaitMs
    ? [
        [
          'delivery.authorization_wait_max_ms',
          `(${c.delivery.authorizationWaitMaxMs}) must not be shorter than authentication.max_action_wait_ms (${c.authentication.maxActionWaitMs}): a capture would be refused while its customer may still pay`,
        ],
      ]
    : [];

/**
 * The simulator moves no money: a command routed to it "succeeds" without a PSP. Said at every start (and
 * by check-config) unless the configuration says it is a development one (the switch that allows plain http).
 */
const simulatorInProduction: Rule = (c) =>
  c.security.allowInsecureHttp
    ? []
    : Object.values(c.gateways)
        .filter((g) => gatewayDefinition(g.type).testDouble)
        .map((g): Problem => [
          `gateways.${g.name}.type`,
          'is the PSP simulator, which moves no money: remove it from a production configuration (or mark the configuration as development: security.allow_insecure_http: true)',
        ]);

/** Hosts that only this machine reaches: a scraper on the same host or a sidecar. */
const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|\[::1\]|localhost)$/i;

/**
 * `/metrics` (and, on the web port, the operator console's login page) answers every client when
 * `edge.allow.admin` is empty: harmless on loopback, not on an address a proxy or the PSPs reach. The figures
 * hold no card data, but they tell anyone the volumes, the PSPs and their failures.
 */
const adminOpenBeyondLoopback: Rule = (c) => {
  if (c.edge.allow.admin.length > 0) return [];
  const open = [
    ['http.host', c.http.host],
    ['monitoring.host', c.monitoring.host],
  ].filter(([, host]) => !LOOPBACK_HOST.test(host));
  if (open.length === 0) return [];
  const where = open.map(([key, host]) => `${key} ${host}`).join(', ');
  return [
    [
      'edge.allow.admin',
      `is empty while ${where} is beyond loopback: /metrics answers every client that reaches it; list the scrapers' addresses (or restrict /metrics at the proxy)`,
    ],
  ];
};

/**
 * What a gateway's own definition says is allowed but worth knowing (`GatewayDefinition.configWarnings`: an
 * Adyen gateway taking webhooks on their HMAC alone, without Basic auth).
 */
export const gatewayConfigWarnings: Rule = (c) =>
  Object.values(c.gateways).flatMap((g) =>
    (gatewayDefinition(g.type).configWarnings?.(g) ?? []).map(([key, what]): Problem => [`gateways.${g.name}.${key}`, what]),
  );

const channelsBlock: Rule = (c) => channelsConfigProblems(c.channels);
const limitsBlock: Rule = (c) => limitsConfigProblems(c.limits);

const takeDeadlineWithinCommandTimeout: Rule = (c) => takeDeadlineProblems(c);

const routingBlock: Rule = (c) => routingConfigProblems(c.routing, new Set(Object.keys(c.gateways)));

/** `gateways.<name>.vault`: one PSP's entries per name, and no split of entries with one account and key. */
const vaultDeclarations: Rule = (c) => vaultDeclarationProblems(c.gateways).errors;
/** A declared vault no other entry is in shares nothing: probably a misspelt name. */
const loneVaults: Rule = (c) => vaultDeclarationProblems(c.gateways).warnings;

const RULES: readonly Rule[] = [
  backoffOrder,
  pollScheduleAscending,
  distinctQueues,
  proxyPair,
  accountOverridesNameGateways,
  actionWaitsWithinMaximum,
  authorizationWaitOutlastsActions,
  edgeProblems,
  consoleCredentialProblems,
  channelsBlock,
  limitsBlock,
  routingBlock,
  takeDeadlineWithinCommandTimeout,
  vaultDeclarations,
];
const WARNINGS: readonly Rule[] = [
  simulatorInProduction,
  consoleIdleBeyondLifetime,
  consoleHashParameterWarnings,
  loneVaults,
  gatewayConfigWarnings,
  adminOpenBeyondLoopback,
];

/** Every cross-field problem of a schema-valid configuration, `[key, problem]`; empty when it is coherent. */
export function crossFieldProblems(config: Config): Problem[] {
  return RULES.flatMap((rule) => rule(config));
}

/** What is allowed but probably a mistake, `[key, what]`: logged at start, printed by check-config. */
export function configWarnings(config: Config): Problem[] {
  return WARNINGS.flatMap((rule) => rule(config));
}
