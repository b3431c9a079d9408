import { AxiosInstance, AxiosResponse } from 'axios';
import { displayUrl } from '../bus/bus-errors';
import { readTokenAnswer, tokenRequest } from '../bus/oauth-token-provider';
import { Config, GatewayConfig } from '../config/config';
import { gatewayDefinition } from '../gateways/gateway-registry';
import { ALLOW_INSECURE_HTTP_KEY, isClearTextUrl } from '../config/transport-security';
import { pspValueText } from '../errors/psp-text';
import { answerTooLarge, callFailure } from './call-failure';
import { CheckResult } from './check-result';

/**
 * Credential checks that change nothing on the other side: an OAuth token for the bus, and each gateway's
 * own harmless call (its definition's `credentialCheck`: a balance read at Stripe, the payment methods of
 * the merchant account at Adyen, an empty transaction search at Cybersource, the simulator's counters).
 * Details name statuses and standard error codes, never a secret; what the PSP sent is quoted only through
 * `pspValueText` (card numbers masked, cut short), as every error quoting a PSP does: the report is printed
 * to an operator's screen and often pasted into a ticket.
 */

function result(target: string, status: CheckResult['status'], detail: string, fix?: string): CheckResult {
  return { check: 'credentials', target, status, detail, ...(fix ? { fix } : {}) };
}

/** The fix of an answer too large to read: the URL reaches something that is not the API (the credentials are not in question). */
function tooLargeFix(err: unknown, urlKeys: string): string | undefined {
  return answerTooLarge(err) ? `check ${urlKeys}: the URL must reach the documented API (none of its answers is that large), not another server` : undefined;
}

/**
 * The standard OAuth / PSP error code of a JSON body, if any (`invalid_client`, `api_key_expired`…), as the
 * PSP wrote it: free text of any length, quoted only through {@link describeFailure}.
 */
function errorCodeOf(body: unknown): string | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
    if (parsed.error && typeof parsed.error === 'object') {
      const inner = parsed.error as { code?: unknown; type?: unknown };
      if (typeof inner.code === 'string') return inner.code;
      if (typeof inner.type === 'string') return inner.type;
    }
  } catch {
    // Not JSON: the status says enough.
  }
  return undefined;
}

/** The status and the PSP's error code, the code masked and cut (`pspValueText`): never a card number or megabytes. */
function describeFailure(status: number, body: unknown): string {
  const code = errorCodeOf(body);
  return `HTTP ${status}${code ? ` (${pspValueText(code)})` : ''}`;
}

/**
 * A credential is never sent over plain http unless `security.allow_insecure_http` says so: the check is
 * not run and reported FAIL with the fix. Null when the call may go ahead.
 */
function clearTextRefusal(url: string, key: string, allowInsecureHttp: boolean, target: string): CheckResult | null {
  if (allowInsecureHttp || !isClearTextUrl(url)) return null;
  return result(
    target,
    'FAIL',
    `not sent: ${key} is http://, the credential would travel in clear text; use https:// (or ${ALLOW_INSECURE_HTTP_KEY}: true, development only)`,
  );
}

/**
 * Client-credentials grant at the OAuth server the bus trusts. The answer is read by the product's own reader
 * (`readTokenAnswer`): OK only for a token the bus client would take, and a FAIL says what it would say (an
 * access_token no header can carry, an answer without one, the credentials refused), never quoting the token.
 */
export async function checkBusCredentials(config: Config, http: AxiosInstance, target: string): Promise<CheckResult> {
  const { clientId, oauthServerUrl, tokenPath } = config.momClient;
  const refused = clearTextRefusal(oauthServerUrl, 'mom_client.oauth_server_url', config.security.allowInsecureHttp, target);
  if (refused) return refused;
  const tokenUrl = `${oauthServerUrl}${tokenPath}`;
  // The bus client's own request: its credential encoding and mom_client.client_auth.
  const request = tokenRequest(config.momClient);
  let res: AxiosResponse<unknown>;
  try {
    res = await http.post<unknown>(tokenUrl, request.body, { headers: request.headers });
  } catch (err) {
    return result(target, 'FAIL', `token request failed: ${callFailure(err)}`, tooLargeFix(err, 'mom_client.oauth_server_url and mom_client.token_path'));
  }
  try {
    readTokenAnswer({ status: res.status, body: typeof res.data === 'string' ? res.data : '', headers: stringHeaders(res.headers) }, displayUrl(tokenUrl));
  } catch (err) {
    return result(target, 'FAIL', (err as Error).message);
  }
  return result(target, 'OK', `token issued to client ${clientId}`);
}

/** The response's headers that have one string value (what `readTokenAnswer` reads: `Retry-After`). */
function stringHeaders(headers: AxiosResponse['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) if (typeof value === 'string') out[name.toLowerCase()] = value;
  return out;
}

/**
 * The gateway's harmless authenticated call (its definition's `credentialCheck`, signed by its transformer
 * at `now`): 2xx OK, 401/403 FAIL (the credentials are refused), anything else WARN. FAIL without calling
 * when the gateway is plain http (the simulator too) and `allowInsecureHttp` is false.
 */
export async function checkGatewayCredentials(
  gateway: GatewayConfig,
  http: AxiosInstance,
  target: string,
  allowInsecureHttp: boolean,
  now: Date = new Date(),
): Promise<CheckResult> {
  const refused = clearTextRefusal(gateway.baseUrl, `gateways.${gateway.name}.base_url`, allowInsecureHttp, target);
  if (refused) return refused;
  const { transformer, credentialCheck } = gatewayDefinition(gateway.type);
  const { describe, credential } = credentialCheck;
  const request = transformer.authenticate(credentialCheck.request(gateway), gateway, now);
  try {
    const res = await http.request<string>({ method: request.method, url: `${gateway.baseUrl}${request.path}`, headers: request.headers, data: request.body });
    if (res.status >= 200 && res.status < 300) return result(target, 'OK', `${describe} accepted ${credential}`);
    if (res.status === 401 || res.status === 403) return result(target, 'FAIL', `${describe}: ${credential} refused, ${describeFailure(res.status, res.data)}`);
    return result(target, 'WARN', `${describe}: ${describeFailure(res.status, res.data)}`);
  } catch (err) {
    return result(target, 'FAIL', `${describe} failed: ${callFailure(err)}`, tooLargeFix(err, `gateways.${gateway.name}.base_url`));
  }
}
