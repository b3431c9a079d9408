import { Config } from '../config/config';
import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import { PaymentBridgeError } from '../errors/payment-bridge-error';
import { Logger } from '../logging/logger';
import { SECRET_MASK, registerSecret } from '../logging/redact';
import { BusClient } from './bus-client';
import { BusAuthenticationError, BusRequestError, BusRpcError, PeerUnavailableError, RegistrationError } from './bus-errors';
import { AccessTokenSource, OAuthTokenProvider } from './oauth-token-provider';

export interface RegistrationDeps {
  logger: Logger;
  /** Default: a new `OAuthTokenProvider(config, logger)`. */
  tokenProvider?: AccessTokenSource;
  /** Default: a new `BusClient(config, tokenProvider, logger)`. */
  busClient?: Pick<BusClient, 'call'>;
  /** Waits between attempts, milliseconds. Default: a timer; tests may pass their own. */
  sleep?: (ms: number) => Promise<void>;
}

export type RegistrationAction = 'register' | 'unregister';

/**
 * Registers this bridge with the bus (`service_bus.method.register` with `{id: endpoint_name, url:
 * public_url, secret, subscribes}`). The bus overwrites an existing registration, so registering twice is
 * harmless. Retryable failures (unreachable, timeout, 5xx) are retried `registration.attempts` times in
 * all, waiting `registration.backoff_base_ms` × 2^(attempt-1) between them. Throws `RegistrationError`
 * whose one-line message says what to fix; it never contains the secret.
 */
export async function register(config: Config, deps: RegistrationDeps): Promise<void> {
  const bus = config.serviceBus;
  await run(config, deps, 'register', bus.methods.register, {
    id: bus.endpointName,
    url: bus.publicUrl,
    secret: bus.secret,
    subscribes: [...bus.subscribes],
  });
}

/** Removes this bridge's registration (`service_bus.method.unregister` with `{id}`); same retries and errors as `register`. */
export async function unregister(config: Config, deps: RegistrationDeps): Promise<void> {
  await run(config, deps, 'unregister', config.serviceBus.methods.unregister, { id: config.serviceBus.endpointName });
}

/**
 * The `register` / `unregister` CLI commands: runs the action and returns the process exit code (0 done,
 * 1 failed). A failure is logged as one error line saying what to fix.
 */
export async function runRegisterCommand(config: Config, logger: Logger, action: RegistrationAction): Promise<number> {
  try {
    await (action === 'register' ? register : unregister)(config, { logger });
    return 0;
  } catch (err) {
    const message = err instanceof RegistrationError ? err.message : `${action} failed unexpectedly: ${err instanceof Error ? err.name : 'unknown error'}`;
    logger.error(message, { action, code: err instanceof PaymentBridgeError ? err.code : 'UNEXPECTED' });
    return 1;
  }
}

async function run(config: Config, deps: RegistrationDeps, action: RegistrationAction, method: string, params: Record<string, unknown>): Promise<void> {
  registerSecret(config.serviceBus.secret);
  const tokens = deps.tokenProvider ?? new OAuthTokenProvider(config, deps.logger);
  const client = deps.busClient ?? new BusClient(config, tokens, deps.logger);
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const { attempts, backoffBaseMs } = config.registration;
  const endpoint = config.serviceBus.endpointName;
  for (let attempt = 1; ; attempt++) {
    try {
      await client.call(method, params);
      deps.logger.info(action === 'register' ? 'registered with the bus' : 'unregistered from the bus', {
        endpoint,
        url: action === 'register' ? config.serviceBus.publicUrl : undefined,
        attempt,
      });
      return;
    } catch (err) {
      const failure = explain(action, err, config.serviceBus.secret);
      if (!failure.retryable || attempt >= attempts) throw failure;
      const waitMs = backoffBaseMs * 2 ** (attempt - 1);
      deps.logger.warn(`${action} attempt failed; retrying`, { attempt, of: attempts, wait_ms: waitMs, reason: failure.message });
      await sleep(waitMs);
    }
  }
}

/** One line saying what went wrong and which setting to check. Built from error classes, never message text. */
function explain(action: RegistrationAction, err: unknown, secret: string): RegistrationError {
  const failure = classify(action, err);
  // The bus may quote our params back in its error message; the registration secret must not travel on.
  if (secret === '' || !failure.message.includes(secret)) return failure;
  return new RegistrationError(failure.message.split(secret).join(SECRET_MASK), failure.retryable);
}

function classify(action: RegistrationAction, err: unknown): RegistrationError {
  if (err instanceof BusAuthenticationError) {
    return new RegistrationError(`${action} failed: ${err.message}`, false);
  }
  if (err instanceof PeerUnavailableError) {
    const setting = err.dependency === 'oauth' ? 'mom_client.oauth_server_url' : 'service_bus.url';
    const peer = err.dependency === 'oauth' ? 'the OAuth server' : 'the bus';
    return new RegistrationError(`${action} failed: cannot reach ${peer} at ${err.url} (${err.reason}): check ${setting}`, true);
  }
  if (err instanceof DependencyUnavailableError) {
    return new RegistrationError(`${action} failed: ${err.message}`, true);
  }
  if (err instanceof BusRpcError) {
    return new RegistrationError(`${action} failed: the bus refused the ${action} call: ${err.rpcCode} ${err.rpcMessage}`, false);
  }
  if (err instanceof BusRequestError) {
    return new RegistrationError(`${action} failed: ${err.message}`, false);
  }
  return new RegistrationError(`${action} failed: unexpected ${err instanceof Error ? err.name : 'error'}`, false);
}
