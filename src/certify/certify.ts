import { randomBytes } from 'node:crypto';
import { Config, GatewayConfig, GatewayType } from '../config/config';
import { CommandType, Payment } from '../contracts/payment-command';
import { PaymentBridgeError } from '../errors/payment-bridge-error';
import { GatewayOutcome, OperationContext, OutcomeStatus, inquirySupport } from '../gateways/gateway-adapter';
import { GatewayRoute } from '../gateways/gateway-route';
import { gatewayDefinition } from '../gateways/gateway-registry';
import { closeOutboundHttp, createOutboundHttp } from '../http/axios-http';
import { separateConnectTimeout, transportErrorCode } from '../http/outbound-http';
import { Logger } from '../logging/logger';
import { counter } from '../metrics/metrics-registry';
import { checkNotification } from './check-notification';
import { inquireStatus } from '../delivery/status-inquiry';

/**
 * `payment-bridge certify --gateway NAME`: the go-live check. Runs the key flows against the gateway's
 * sandbox through the same adapter and client the worker uses (authorize, its status inquiry, full
 * capture, partial capture, partial refund, cancel, a decline) and a webhook round trip to our own public
 * URL, and reports each step with the request it sent and the PSP's reference. It writes nothing to the
 * ledger and sends nothing to the bus: certify operations are its own (`certify-…` ids).
 */

/** One line of the report. `SKIP` says why (no test token for this PSP, an earlier step failed). */
export interface CertifyStep {
  flow: string;
  command: CommandType | 'webhook';
  status: 'PASS' | 'FAIL' | 'SKIP';
  /** Our operation id: the Idempotency-Key and merchant reference the PSP saw. */
  operationId?: string;
  /** `METHOD path` as sent. */
  request?: string;
  /** The PSP's reference for what the step created or touched. */
  reference?: string;
  /** What the PSP answered, in our words and its own (`SUCCESS requires_capture`). */
  outcome?: string;
  detail: string;
}

export interface CertifyReport {
  gateway: string;
  type: GatewayType;
  steps: CertifyStep[];
  passed: boolean;
}

/** The test data of one run. Tokens are the PSP's documented test payment methods, never card numbers. */
export interface CertifyInputs {
  /** A payment method that authorizes. Default: the PSP's documented test token when it has one. */
  token?: string;
  /** A payment method that is declined. Default: the PSP's documented declining test token when it has one. */
  declineToken?: string;
  /** Minor units. Default 2000. */
  amount?: number;
  /** ISO 4217. Default `EUR` (`USD` for Stripe and Cybersource). */
  currency?: string;
  /** The merchant account the commands name. Default the gateway's `merchant_account`, else `certify`. */
  account?: string;
  /** Post the signed check notification to our public webhook URL. Default true. */
  webhook?: boolean;
}

/**
 * The PSP's own test payment methods and certify's currency: its definition's `certification.testTokens`
 * (Stripe's test PaymentMethods, the simulator's magic methods; Adyen and Cybersource have none that work
 * without the merchant's own test account: pass `--token` / `--decline-token` from it).
 */
export function defaultTestTokens(type: GatewayType): { token?: string; declineToken?: string; currency: string } {
  return { ...gatewayDefinition(type).certification.testTokens };
}

export interface CertifyOptions {
  logger: Logger;
  now?: () => Date;
  /** Where the webhook round trip posts: default the origin of `service_bus.public_url` + `/webhooks/<gateway>`. */
  webhookUrl?: string;
  /** Deadline of the webhook round trip, milliseconds. Default 10000. */
  webhookTimeoutMs?: number;
}

const certifySteps = (): ReturnType<typeof counter> => counter('pb_certify_steps_total', 'certify steps by gateway and result', ['gateway', 'status']);

/** Runs every flow against `route`'s gateway and returns the report; never throws for a PSP's answer. */
export async function runCertify(config: Config, route: GatewayRoute, inputs: CertifyInputs, options: CertifyOptions): Promise<CertifyReport> {
  const { gateway, transformer, client } = route;
  const defaults = defaultTestTokens(gateway.type);
  const token = inputs.token ?? defaults.token;
  const declineToken = inputs.declineToken ?? defaults.declineToken;
  const amount = inputs.amount ?? 2000;
  const currency = inputs.currency ?? defaults.currency;
  const account = inputs.account ?? (gateway.merchantAccount || 'certify');
  const run = `certify-${gateway.name.replace(/[^A-Za-z0-9]/g, '')}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
  const steps: CertifyStep[] = [];
  let seq = 0;

  const payment = (key: string, minor: number): Payment => ({
    gateway: gateway.name,
    gateway_account: account,
    gateway_key: key,
    amount: minor,
    currency,
    order_id: run,
  });
  const supported = (command: CommandType): boolean => transformer.supports.includes(command);

  /** Sends one command; the step passes when the outcome's status is one of `accept`. */
  const step = async (flow: string, command: CommandType, pay: Payment, accept: readonly OutcomeStatus[]): Promise<GatewayOutcome | undefined> => {
    seq += 1;
    const ctx: OperationContext = { operationId: `${run}-${seq}`, command, payment: pay };
    const entry: CertifyStep = { flow, command, status: 'FAIL', operationId: ctx.operationId, detail: '' };
    steps.push(entry);
    if (!supported(command)) {
      entry.status = 'SKIP';
      entry.detail = `${gateway.type} does not carry ${command}`;
      return undefined;
    }
    try {
      const request = transformer.buildRequest(ctx, gateway);
      entry.request = `${request.method} ${request.path.split('?')[0]}`;
      const response = await client.send(request);
      const outcome = transformer.parseResponse(ctx, response, gateway);
      entry.reference = outcome.gatewayReference;
      entry.outcome = `${outcome.status} ${outcome.gatewayStatus}`;
      const ok = accept.includes(outcome.status);
      entry.status = ok ? 'PASS' : 'FAIL';
      entry.detail = describe(outcome, accept, transformer.inquiry ? inquirySupport(transformer, command) : 'supported');
      return outcome;
    } catch (err) {
      entry.detail = err instanceof PaymentBridgeError ? `${err.code}: ${err.message}` : `unexpected: ${(err as Error).message}`;
      return undefined;
    }
  };
  const skip = (flow: string, command: CommandType | 'webhook', detail: string): void => {
    steps.push({ flow, command, status: 'SKIP', detail });
  };

  // Modifications may answer "received" and settle by webhook (Adyen): accepted is a pass for them.
  const settles: readonly OutcomeStatus[] = ['SUCCESS', 'PENDING'];
  let authorization: GatewayOutcome | undefined;
  let authorizationOp: string | undefined;
  if (token === undefined) {
    for (const flow of ['authorize', 'status inquiry', 'full capture', 'partial refund', 'partial capture', 'cancel'])
      skip(flow, 'authorize', `no test token for ${gateway.type}: pass --token (a payment method of your sandbox account)`);
  } else {
    authorization = await step('authorize', 'authorize', payment(token, amount), ['SUCCESS']);
    authorizationOp = `${run}-${seq}`;
    const ref = authorization?.status === 'SUCCESS' ? authorization.gatewayReference : undefined;
    if (ref !== undefined && authorizationOp !== undefined) {
      await inquiry(authorizationOp, payment(token, amount));
      await step('full capture', 'capture', payment(ref, amount), settles);
      await step('partial refund', 'refund', payment(ref, Math.floor(amount / 2)), settles);
    } else {
      for (const flow of ['status inquiry', 'full capture', 'partial refund']) skip(flow, 'capture', 'the authorization did not succeed');
    }
    const second = await step('authorize (for partial capture)', 'authorize', payment(token, amount), ['SUCCESS']);
    if (second?.status === 'SUCCESS' && second.gatewayReference)
      await step('partial capture', 'capture', payment(second.gatewayReference, Math.floor(amount / 2)), settles);
    else skip('partial capture', 'capture', 'its authorization did not succeed');
    const third = await step('authorize (for cancel)', 'authorize', payment(token, amount), ['SUCCESS']);
    if (third?.status === 'SUCCESS' && third.gatewayReference) await step('cancel', 'cancel', payment(third.gatewayReference, amount), settles);
    else skip('cancel', 'cancel', 'its authorization did not succeed');
  }
  if (declineToken === undefined) skip('decline', 'authorize', `no declining test token for ${gateway.type}: pass --decline-token`);
  else await step('decline', 'authorize', payment(declineToken, amount), ['FAIL']);

  if (inputs.webhook === false) skip('webhook round trip', 'webhook', 'not asked (--no-webhook)');
  else steps.push(await webhookRoundTrip(config, gateway, authorizationOp ?? `${run}-webhook`, options));

  const passed = steps.every((s) => s.status !== 'FAIL');
  for (const s of steps) certifySteps().inc({ gateway: gateway.name, status: s.status });
  options.logger.info('certify finished', {
    gateway: gateway.name,
    run,
    passed,
    failed: steps.filter((s) => s.status === 'FAIL').map((s) => s.flow),
    skipped: steps.filter((s) => s.status === 'SKIP').map((s) => s.flow),
  });
  return { gateway: gateway.name, type: gateway.type, steps, passed };

  async function inquiry(operationId: string, pay: Payment): Promise<void> {
    const ctx: OperationContext = { operationId, command: 'authorize', payment: pay };
    const entry: CertifyStep = { flow: 'status inquiry', command: 'authorize', status: 'FAIL', operationId, detail: '' };
    steps.push(entry);
    if (inquirySupport(transformer, 'authorize') !== 'supported') {
      entry.status = 'SKIP';
      entry.detail = `${gateway.type} settles authorizations by webhook only`;
      return;
    }
    try {
      const request = transformer.buildStatusRequest(ctx, gateway);
      entry.request = `${request.method} ${request.path.split('?')[0]}`;
      // The worker's inquiry, follow-up included (a Cybersource partial authorization's amount is a second request).
      const { outcome: found } = await inquireStatus(route, ctx);
      entry.reference = found?.gatewayReference;
      entry.outcome = found ? `${found.status} ${found.gatewayStatus}` : 'not found';
      entry.status = found?.status === 'SUCCESS' ? 'PASS' : 'FAIL';
      entry.detail = found ? 'the PSP reports the authorization by our reference' : 'the PSP has no trace of the authorization it just confirmed';
    } catch (err) {
      entry.detail = err instanceof PaymentBridgeError ? `${err.code}: ${err.message}` : `unexpected: ${(err as Error).message}`;
    }
  }
}

function describe(outcome: GatewayOutcome, accept: readonly OutcomeStatus[], inquiry: string): string {
  const parts: string[] = [];
  if (outcome.status === 'PENDING' && accept.includes('PENDING'))
    parts.push(inquiry === 'webhook-only' ? 'accepted; the PSP confirms it by webhook' : 'accepted; settles later');
  if (outcome.status === 'FAIL') parts.push(`declined: ${outcome.decline?.category ?? outcome.reason ?? 'no reason'}`);
  if (outcome.amount !== undefined) parts.push(`confirmed ${outcome.amount} ${outcome.currency ?? ''}`.trim());
  if (!accept.includes(outcome.status)) parts.push(`expected ${accept.join(' or ')}`);
  return parts.join('; ') || 'ok';
}

/** Where the PSP posts this gateway's webhooks: our public origin + `/webhooks/<name>`. */
export function webhookUrlOf(config: Config, gateway: GatewayConfig): string {
  return `${new URL(config.serviceBus.publicUrl).origin}/webhooks/${encodeURIComponent(gateway.name)}`;
}

/** The refusal a 401 of our webhook route names in its body (`{"error": …}`, webhook-route.ts); undefined for any other body. */
function refusalOf(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body) as unknown;
    const error = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>).error : undefined;
    return typeof error === 'string' ? error : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What the web role's 401 to the check notification says is at fault, naming the settings (`gateways.<name>.…`) by
 * what its body tells apart:
 * - `unknown signing key`: the web role holds no key of the key id the notification names (Cybersource
 *   `v-c-signature` `keyId`), so `webhook_key_id` differs; no secret was checked.
 * - `invalid signature`: checked with the key the web role holds for that id (or one of no id, tried for every id) and
 *   not matched: `webhook_secret` differs from the web role's for that key id; with the settings that also
 *   authenticate the notification (`Certification.alsoAuthenticatedBy`: Adyen's Basic authentication), any of them.
 * - any other body (a proxy's 401, a release that names no refusal): none is told apart, so every one is named.
 */
export function webhookRefusalDetail(gateway: GatewayConfig, body: string): string {
  const setting = (key: string): string => `gateways.${gateway.name}.${key}`;
  const keyIds = Object.hasOwn(gatewayDefinition(gateway.type).settings, 'webhookKeyId');
  const also = gatewayDefinition(gateway.type).certification.alsoAuthenticatedBy?.(gateway) ?? [];
  const refusal = refusalOf(body);
  if (refusal === 'unknown signing key') {
    const id =
      gateway.webhookKeyId === ''
        ? `${setting('webhook_key_id')} is empty here, while the web role holds its keys by id`
        : `the web role holds no key of the id ${setting('webhook_key_id')} names (neither its webhook_key_id nor its webhook_key_id_previous)`;
    return `our endpoint refused the notification's key id: ${id}; no secret was checked`;
  }
  if (refusal === 'invalid signature') {
    const secret = keyIds
      ? `${setting('webhook_secret')} is not the secret the web role holds for the key id ${setting('webhook_key_id')} names`
      : `the web role runs with another ${setting('webhook_secret')}`;
    return `our endpoint refused the signature: ${secret}${also.length > 0 ? `, or with another ${also.map(setting).join(' or ')}` : ''}`;
  }
  const named = ['webhook_secret', ...(keyIds ? ['webhook_key_id'] : []), ...also].map(setting);
  return `our endpoint refused the notification without saying why: the web role may run with another ${named.join(' or ')}`;
}

async function webhookRoundTrip(config: Config, gateway: GatewayConfig, reference: string, options: CertifyOptions): Promise<CertifyStep> {
  const url = options.webhookUrl ?? webhookUrlOf(config, gateway);
  const entry: CertifyStep = { flow: 'webhook round trip', command: 'webhook', status: 'FAIL', request: `POST ${new URL(url).pathname}`, detail: '' };
  if (!gateway.webhookSecret) {
    entry.status = 'SKIP';
    entry.detail = `gateways.${gateway.name}.webhook_secret is empty: this gateway's webhooks are all refused`;
    return entry;
  }
  const note = checkNotification(gateway, reference, (options.now ?? (() => new Date()))());
  // As every outbound call: the configured proxy, the TLS 1.2 floor and a timeout (our public URL may be
  // reachable from here only through the egress proxy).
  // A new connection bounded by the gateway's connect_timeout_ms, as its client's are: a black-holed public URL or
  // proxy fails fast instead of holding the run for the whole webhook timeout.
  const timeoutMs = options.webhookTimeoutMs ?? 10000;
  const http = createOutboundHttp({
    timeoutMs,
    connectTimeoutMs: separateConnectTimeout(gateway.connectTimeoutMs, timeoutMs),
    maxSockets: 1,
    proxy: config.proxy,
  });
  try {
    const res = await http.request<string>({ method: 'POST', url, headers: note.headers, data: note.body });
    const ok = res.status >= 200 && res.status < 300;
    entry.outcome = `HTTP ${res.status}`;
    entry.status = ok ? 'PASS' : 'FAIL';
    entry.detail = ok
      ? `our endpoint verified a notification signed with the configured secret and answered ${JSON.stringify(String(res.data).slice(0, 40))}`
      : res.status === 401
        ? webhookRefusalDetail(gateway, String(res.data))
        : `our endpoint answered ${res.status}`;
  } catch (err) {
    const code = transportErrorCode(err);
    entry.detail = `${url} unreachable: ${code === 'ECONNABORTED' ? 'timed out' : code}`;
  } finally {
    closeOutboundHttp(http);
  }
  return entry;
}
