import { refusalHeaders, refusalIdentifiers } from './refusal-identifiers';
import { IncomingMessage, ServerResponse } from 'node:http';
import { AUTHENTICATED_CHANNEL_HEADER, DeadLetterWriter, reportOnceGap } from '../amqp/dead-letter-writer';
import { deadLetterDuplicates, deadLetterIdentity, deadLetterIdentityKey } from '../amqp/dead-letter-once';
import { ConfirmPublisher } from '../amqp/confirm-publisher';
import { commandRoutingKey } from '../amqp/topology';
import { BusCommandName, Config } from '../config/config';
import { JSON_RPC, JsonRpcId, JsonRpcResponse, jsonRpcError, jsonRpcResult } from '../bus/json-rpc';
import { MethodsQueryError, PaymentMethodOptions, methodsAnswerInBusUnits, methodsQueryOf } from '../routing/payment-method-options';
import { RecurringManagement } from '../recurring/recurring-management';
import { matchSignature } from '../bus/x-signature';
import { MAX_JSON_DEPTH, decodeJsonText, parseBoundedJson } from '../contracts/json-limits';
import { CommandValidationError } from '../errors/command-validation-error';
import { DependencyUnavailableError } from '../errors/dependency-unavailable-error';
import { operationIdOf } from '../ledger/operation-id';
import { commandDigest } from '../ledger/command-digest';
import { Ledger } from '../ledger/ledger';
import { IssuedTokenLookup, IssuedTokens, issuedTokenOf, reportIssuedToken } from '../ledger/issued-tokens';
import { IDEMPOTENCY_CONFLICT } from '../events/idempotency-conflict-event';
import { PaymentCommand } from '../contracts/payment-command';
import { idempotencyConflicts } from './idempotency-metrics';
import { Logger } from '../logging/logger';
import { LogThrottle } from '../logging/log-throttle';
import { counter } from '../metrics/metrics-registry';
import { BodyTooLargeError } from '../errors/body-too-large-error';
import { BodyReader } from '../web/read-body';
import { SignatureKeyUse } from '../web/signature-keys';
import { WebRoute, sendJson } from '../web/web-server';
import { commandMethodIndex, mapBusRequest } from './bus-command-mapper';
import { scheduleParamsInMinor, scheduleViewInBusUnits } from './bus-amounts';
import { JsonRpcEnvelope, paramsOf, readJsonRpcEnvelope } from './json-rpc-envelope';
import { RateLimiter } from '../admission/rate-limiter';
import { BacklogProbe } from '../admission/backlog-probe';
import { isPriorityCommand, priorityExchangeOf } from '../admission/command-priority';
import { reportMaskedCardData } from './card-data-masking';
import { busSigningKey, channelSignatureHeaders } from '../channels/channel-signature';
import { ChannelKey } from '../config/channels-config';

/** Intake refusals by code; every unauthenticated 401 counts here (the log line is rate-limited). */
const intakeRejects = counter(
  'pb_intake_rejects_total',
  'Intake requests refused, by code (UNAUTHORIZED: missing or wrong X-Signature; BODY_TOO_LARGE: 413; INTERNAL_ERROR: an unexpected failure, 500 with JSON-RPC -32603; the JSON-RPC refusals: PARSE_ERROR, INVALID_REQUEST, UNKNOWN_METHOD, INVALID_PARAMS, CARD_DATA_REJECTED, IDEMPOTENCY_CONFLICT…)',
  ['code'],
);

/** `pb_backpressure_refusals_total{command}`: new authorizations refused (503) because the commands queue is past its backlog. */
const backpressureRefusals = counter(
  'pb_backpressure_refusals_total',
  'Commands the intake refused with 503 + Retry-After because the commands queue was past backpressure.max_backlog, by command',
  ['command'],
);

/**
 * BODY_TOO_LARGE dead letters one intake process writes at once, then one per
 * {@link OVERSIZED_DEAD_LETTER_REFILL_MS}: a 413 needs no signature, only a Content-Length header above the
 * limit, and each dead letter takes a place in the bounded archive, whose oldest (real refusals) would go first.
 */
export const OVERSIZED_DEAD_LETTER_BURST = 20;
/** How often one more BODY_TOO_LARGE dead letter may be written once the burst is spent, milliseconds. */
export const OVERSIZED_DEAD_LETTER_REFILL_MS = 60_000;

/** `pb_intake_oversized_dead_letters_skipped_total`: 413s past that bound, answered and counted but not dead-lettered. */
const oversizedSkipped = counter(
  'pb_intake_oversized_dead_letters_skipped_total',
  `Intake bodies refused with 413 (BODY_TOO_LARGE) that left no dead letter: past ${OVERSIZED_DEAD_LETTER_BURST} at once, then one a minute per process (anyone who can reach the intake can send them, and the archive is bounded)`,
);

/**
 * The challenge of the intake's 401: a 401 MUST carry a WWW-Authenticate header naming how to authenticate
 * (RFC 9110 §15.5.2, https://www.rfc-editor.org/rfc/rfc9110#section-15.5.2); here, an X-Signature HMAC of
 * the raw body, SHA-1 or SHA-256.
 */
const X_SIGNATURE_CHALLENGE = 'X-Signature realm="bus", algorithm="sha1 sha256"';

export interface IntakeStats {
  accepted: number;
  rejected: number;
  unauthorized: number;
  unavailable: number;
  /** Refused with 429: over a rate limit. */
  rateLimited: number;
  /** Refused with 503: the commands queue was past its backlog (new authorizations only). */
  backpressured: number;
}

/**
 * The URL we register with the bus. OPTIONS answers the bus' probe; POST takes a signed JSON-RPC command,
 * verifies X-Signature on the raw body, validates it (answering the JSON-RPC error that names the field),
 * publishes it to the commands exchange and answers `result: {}` only after the broker confirmed it.
 * If the broker cannot confirm: 503 with a JSON-RPC error, so the bus sends it again.
 */
export class IntakeRoute implements WebRoute {
  readonly stats: IntakeStats = { accepted: 0, rejected: 0, unauthorized: 0, unavailable: 0, rateLimited: 0, backpressured: 0 };
  private readonly methods: ReadonlyMap<string, BusCommandName>;
  /** Anyone can send a bad signature: one warning per minute, carrying how many were suppressed. */
  private readonly refusals: LogThrottle;
  /** Which bus secret (current, previous) signed each accepted request. */
  private readonly keyUse: SignatureKeyUse;
  /** What the intake signs its published commands with: the `bus` channel's key (only the intake has it). */
  private readonly busKey: ChannelKey;
  /** Bodies up to `http.body_limit_bytes`; a larger one is discarded within the `http.discard_*` bounds. */
  private readonly bodies: BodyReader;
  /** BODY_TOO_LARGE dead letters that may be written now, and when the last one was added back (epoch ms). */
  private oversizedTokens = { left: OVERSIZED_DEAD_LETTER_BURST, at: Date.now() };
  /** Keys its dead letters' identities (`deadLetterIdentityKey`): never logged or stored. */
  private readonly identityKey: Buffer;

  constructor(
    private readonly deps: {
      config: Config;
      publisher: ConfirmPublisher;
      deadLetters: DeadLetterWriter;
      logger: Logger;
      /**
       * The ledger, read once per command that carries an explicit `operation_reference`, to refuse an
       * idempotency conflict at once. Without it every conflict is left to the consumer.
       */
      ledger?: Pick<Ledger, 'digestOf'>;
      /**
       * The issued-token index, asked only when a command's `payment.gateway_key` or `payment.recurring.network_transaction_id`
       * reads as a card number: a stored token the bridge issued, a network transaction id it reported, is accepted there,
       * anything else refused as card data. Without it, every such value is refused.
       */
      issuedTokens?: Pick<IssuedTokens, 'gatewayOf'> & Partial<Pick<IssuedTokens, 'networkIdGatewayOf'>>;
      /** Rate limits per channel and account (429 + Retry-After over them). Without it nothing is limited. */
      rateLimiter?: Pick<RateLimiter, 'take'>;
      /** The commands queue's depth, for backpressure (503 + Retry-After past the backlog). Without it, none. */
      backlog?: Pick<BacklogProbe, 'depth'>;
      /** Answers `routing.payment_methods.rpc_method` at once (not a command: nothing is queued). Without it, the method is unknown. */
      paymentMethods?: Pick<PaymentMethodOptions, 'list'>;
      /** Answers `recurring.rpc_method.create|list|cancel` at once (schedules in Redis). Without it, those methods are unknown. */
      recurring?: Pick<RecurringManagement, 'create' | 'list' | 'cancel'>;
    },
  ) {
    this.methods = commandMethodIndex(deps.config);
    this.refusals = new LogThrottle(deps.logger);
    this.keyUse = new SignatureKeyUse(deps.logger);
    this.busKey = busSigningKey(deps.config.serviceBus);
    this.identityKey = deadLetterIdentityKey(deps.config.serviceBus.secret);
    this.bodies = new BodyReader(deps.config.http, deps.logger);
  }

  matches(path: string): boolean {
    return path === this.deps.config.http.intakePath;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'OPTIONS') {
      res.writeHead(200, { 'X-Magento-Service-Bus': '*', Allow: 'OPTIONS, POST', 'content-length': '0' });
      res.end();
      return;
    }
    if (req.method !== 'POST') {
      sendJson(res, 405, jsonRpcError(null, JSON_RPC.INVALID_REQUEST, 'only POST carries commands'), { Allow: 'OPTIONS, POST' });
      return;
    }
    // What is known of the request when something fails unexpectedly: its id and whether it asked for an answer.
    const call: { id: JsonRpcId; notification: boolean } = { id: null, notification: false };
    try {
      await this.handlePost(req, res, call);
    } catch (err) {
      // A JSON-RPC call gets a JSON-RPC answer, a failure of ours too (JSON-RPC 2.0, section 5.1: -32603
      // Internal error); the HTTP 500 keeps it a "send it again" for the bus. Nothing was accepted.
      this.stats.unavailable += 1;
      intakeRejects.inc({ code: 'INTERNAL_ERROR' });
      this.deps.logger.error('intake failed unexpectedly; answering 500 with a JSON-RPC internal error so the bus retries', {
        code: 'INTERNAL_ERROR',
        error: (err as Error).message,
        stack: (err as Error).stack,
        ...(call.id !== null ? { rpc_id: call.id } : {}),
      });
      if (res.headersSent) res.destroy();
      else
        refuse(
          res,
          call.notification,
          500,
          jsonRpcError(call.id, JSON_RPC.INTERNAL_ERROR, 'internal error: the command was not accepted, send it again later'),
          {},
        );
    }
  }

  /** A POST: signature, envelope, method, then the command's way to the queue. `call` learns the id once it is read. */
  private async handlePost(req: IncomingMessage, res: ServerResponse, call: { id: JsonRpcId; notification: boolean }): Promise<void> {
    const { config, logger } = this.deps;
    let raw: Buffer;
    try {
      raw = await this.bodies.read(req);
    } catch (err) {
      if (err instanceof BodyTooLargeError) {
        this.stats.rejected += 1;
        intakeRejects.inc({ code: 'BODY_TOO_LARGE' });
        // Written before the answer, as every refusal's: a client holding its 413 finds the dead letter there.
        // The rest of the body is being discarded meanwhile (the reader does it, whatever the answer waits on).
        await this.deadLetterOversized(req, err);
        sendJson(res, 413, jsonRpcError(null, JSON_RPC.INVALID_REQUEST, `request body exceeds ${err.limit} bytes`, { field: '(root)' }), {
          connection: 'close',
        });
        return;
      }
      throw err;
    }
    const signature = req.headers['x-signature'];
    const key = matchSignature(raw, Array.isArray(signature) ? signature[0] : signature, {
      current: config.serviceBus.secret,
      previous: config.serviceBus.secretPrevious,
    });
    if (key === undefined) {
      this.stats.unauthorized += 1;
      intakeRejects.inc({ code: 'UNAUTHORIZED' });
      this.refusals.warn('UNAUTHORIZED', 'intake refused a request with a missing or wrong X-Signature (rate-limited: one line per minute)', {
        code: 'UNAUTHORIZED',
      });
      sendJson(res, 401, jsonRpcError(null, JSON_RPC.UNAUTHORIZED, 'X-Signature is missing or does not match the body', { field: 'X-Signature' }), {
        'www-authenticate': X_SIGNATURE_CHALLENGE,
      });
      return;
    }
    this.keyUse.record('intake', '', key, 'service_bus.secret_previous');
    let body: unknown;
    try {
      // Strict UTF-8 (a parse error otherwise); depth bounded before anything recursive (mapping,
      // validation, card scan, redaction) walks it.
      body = parseBoundedJson(decodeJsonText(raw), { maxDepth: MAX_JSON_DEPTH });
    } catch (err) {
      if (!(err instanceof CommandValidationError)) throw err;
      const rpcCode = err.code === 'PARSE_ERROR' ? JSON_RPC.PARSE_ERROR : JSON_RPC.INVALID_REQUEST;
      await this.reject(res, raw, null, rpcCode, err.code, err.field, err.reason);
      return;
    }
    // One envelope check for every method, before any of them runs.
    const envelope = readJsonRpcEnvelope(body);
    if (!envelope.ok) {
      await this.reject(res, raw, envelope.id, envelope.code, envelope.error.code, envelope.error.field, envelope.error.reason);
      return;
    }
    const { notification } = envelope;
    call.id = envelope.id;
    call.notification = notification;
    if (await this.answeredPaymentMethods(res, raw, envelope)) return;
    if (await this.answeredRecurring(res, raw, envelope)) return;
    const token = await this.issuedTokenLookup(res, envelope);
    if (token === null) return;
    const mapped = mapBusRequest(envelope, this.methods, config.serviceBus.amountUnits, new Date().toISOString(), config.channels, token.values);
    if (!mapped.ok) {
      await this.reject(res, raw, mapped.id, mapped.code, mapped.error.code, mapped.error.field, mapped.error.reason, {
        notification,
        minorReason: mapped.error.minorReason,
      });
      return;
    }
    const command = mapped.command;
    reportMaskedCardData(logger, 'bus', mapped.masked);
    const operationId = operationIdOf(command);
    reportIssuedToken(logger, 'intake', token, mapped.issued, { channel: 'bus', operation_id: operationId });
    if (await this.overBacklog(res, mapped.id, command, notification)) return;
    if (await this.overRateLimit(res, mapped.id, command, notification)) return;
    if (await this.conflicts(command, operationId)) {
      idempotencyConflicts().inc({ channel: command.channel });
      await this.reject(
        res,
        raw,
        mapped.id,
        JSON_RPC.INVALID_PARAMS,
        'IDEMPOTENCY_CONFLICT',
        'payment.operation_reference',
        `${IDEMPOTENCY_CONFLICT}: already used for a command with other money fields`,
        {
          operationId,
          message: 'idempotency conflict: intake refused a command whose operation_reference is taken by one with other money fields',
          notification,
        },
      );
      return;
    }
    try {
      // Captures, cancels and refunds take the priority lane: they never wait behind a backlog of authorizations.
      const exchange = config.backpressure.priorityLane && isPriorityCommand(command.command) ? priorityExchangeOf(config.amqp) : config.amqp.commandsExchange;
      const content = Buffer.from(JSON.stringify(command));
      await this.deps.publisher.publish(exchange, commandRoutingKey(command.channel, command.command), content, {
        headers: channelSignatureHeaders(content, this.busKey),
        contentType: 'application/json',
        messageId: operationId,
        timestamp: Math.floor(Date.now() / 1000),
      });
    } catch (err) {
      this.stats.unavailable += 1;
      logger.warn('intake could not publish a command; answering 503 so the bus retries', { operation_id: operationId, error: (err as Error).message });
      refuse(res, notification, 503, jsonRpcError(mapped.id, JSON_RPC.UNAVAILABLE, 'command not accepted: the queue is unavailable, send it again later'), {
        'retry-after': '1',
      });
      return;
    }
    this.stats.accepted += 1;
    if (notification) noReply(res);
    else sendJson(res, 200, jsonRpcResult(mapped.id, {}));
  }

  /**
   * The payment method options call (`routing.payment_methods.rpc_method`), signed like a command but
   * answered synchronously with the result: `{methods, explanation, cached}`. A bad query is a JSON-RPC
   * invalid-params error naming the field. Returns false for any other method.
   */
  private async answeredPaymentMethods(res: ServerResponse, raw: Buffer, envelope: JsonRpcEnvelope): Promise<boolean> {
    const { config, paymentMethods, logger } = this.deps;
    if (!paymentMethods || envelope.method !== config.routing.paymentMethods.rpcMethod) return false;
    const { id, notification } = envelope;
    const named = paramsOf(envelope);
    if (!named.ok) {
      await this.reject(res, raw, id, named.code, named.error.code, named.error.field, named.error.reason, { notification });
      return true;
    }
    // A query sent as a notification asks for nothing back, and the server must not reply to one (JSON-RPC
    // 2.0, section 4.1): no answer is computed.
    if (notification) {
      noReply(res);
      return true;
    }
    try {
      // The bus's amount in its own unit (`service_bus.amount_units`): the caps and the gateways' lists read minor units.
      const units = config.serviceBus.amountUnits;
      const query = methodsQueryOf(named.params, units);
      // The rules' reasons in the bus's unit too (`amount 19.99 EUR > max_amount.EUR 15.00 EUR` to a major-unit bus).
      const answer = methodsAnswerInBusUnits(await paymentMethods.list(query), query.currency, units);
      sendJson(res, 200, jsonRpcResult(id, answer));
    } catch (err) {
      if (err instanceof MethodsQueryError) {
        sendJson(res, 200, jsonRpcError(id, JSON_RPC.INVALID_PARAMS, `${err.field} ${err.reason}`, { field: `params.${err.field}` }));
      } else {
        logger.warn('payment methods: could not answer', { error: (err as Error).message });
        sendJson(res, 503, jsonRpcError(id, JSON_RPC.UNAVAILABLE, 'payment methods are unavailable, ask again later'));
      }
    }
    return true;
  }

  /**
   * The recurring schedule calls (`recurring.rpc_method.create`, `.list`, `.cancel`), signed like a command
   * and answered synchronously: `{created, schedule}`, `{schedules}`, `{cancelled, schedule}`. Bad params
   * are refused as a command's are: a JSON-RPC invalid-params error naming the field (`params.schedule.amount`)
   * and a dead-letter record with the reason. Returns false for any other method.
   */
  private async answeredRecurring(res: ServerResponse, raw: Buffer, envelope: JsonRpcEnvelope): Promise<boolean> {
    const { config, recurring, logger } = this.deps;
    if (!recurring) return false;
    const methods = config.recurring.rpcMethods;
    const { method, id, notification } = envelope;
    const action = method === methods.create ? 'create' : method === methods.list ? 'list' : method === methods.cancel ? 'cancel' : null;
    if (action === null) return false;
    // A create or cancel sent as a notification is carried out, but gets no reply body (JSON-RPC 2.0, 4.1).
    const named = paramsOf(envelope);
    if (!named.ok) {
      await this.reject(res, raw, id, named.code, named.error.code, named.error.field, named.error.reason, { notification });
      return true;
    }
    const { params } = named;
    const units = config.serviceBus.amountUnits;
    try {
      const actor = `bus:${config.serviceBus.endpointName}`;
      // A schedule's amount in the bus's unit (`service_bus.amount_units`), stored and charged in minor units,
      // and answered in the bus's unit again.
      const answer =
        action === 'create'
          ? await recurring.create(params, actor, units === 'major' ? scheduleParamsInMinor : undefined)
          : action === 'list'
            ? await recurring.list(params)
            : await recurring.cancel(params, actor);
      const told =
        'schedules' in answer
          ? { ...answer, schedules: answer.schedules.map((v) => scheduleViewInBusUnits(v, units)) }
          : { ...answer, schedule: scheduleViewInBusUnits(answer.schedule, units) };
      this.stats.accepted += 1;
      if (notification) noReply(res);
      else sendJson(res, 200, jsonRpcResult(id, told));
    } catch (err) {
      if (err instanceof CommandValidationError) {
        await this.reject(res, raw, id, JSON_RPC.INVALID_PARAMS, err.code, `params.${err.field}`, err.reason, { notification });
      } else {
        logger.warn('recurring schedules: could not answer', { action, error: (err as Error).message });
        refuse(res, notification, 503, jsonRpcError(id, JSON_RPC.UNAVAILABLE, 'recurring schedules are unavailable, ask again later'), { 'retry-after': '1' });
      }
    }
    return true;
  }

  /**
   * Backpressure: past `backpressure.max_backlog` messages ready in the commands queue, a new authorization
   * (anything but a capture, cancel or refund) is refused with 503 and Retry-After, as when the broker is
   * unavailable: the bus sends it again later. Nothing is recorded or dead-lettered (the command is fine).
   */
  private async overBacklog(res: ServerResponse, id: JsonRpcId, command: PaymentCommand, notification: boolean): Promise<boolean> {
    const { config, backlog } = this.deps;
    const max = config.backpressure.maxBacklog;
    if (!backlog || max === 0 || isPriorityCommand(command.command)) return false;
    const depth = await backlog.depth();
    if (depth === null || depth <= max) return false;
    this.stats.backpressured += 1;
    backpressureRefusals.inc({ command: command.command });
    this.refusals.warn('BACKLOG', 'intake refused new authorizations: the commands queue is past its backlog (503 + Retry-After; rate-limited log line)', {
      code: 'BACKLOG',
      depth,
      max_backlog: max,
      command: command.command,
    });
    const retryAfterS = config.backpressure.retryAfterS;
    refuse(
      res,
      notification,
      503,
      jsonRpcError(
        id,
        JSON_RPC.UNAVAILABLE,
        `command not accepted: ${depth} commands are waiting (backlog limit ${max}); send it again after ${retryAfterS} s`,
        { reason: 'backlog', retry_after_s: retryAfterS },
      ),
      {
        'retry-after': String(retryAfterS),
      },
    );
    return true;
  }

  /** Rate limits per channel and account: over one, 429 with Retry-After (whole seconds, at least 1). */
  private async overRateLimit(res: ServerResponse, id: JsonRpcId, command: PaymentCommand, notification: boolean): Promise<boolean> {
    const { rateLimiter } = this.deps;
    if (!rateLimiter) return false;
    const decision = await rateLimiter.take({ channel: command.channel, gateway: command.payment.gateway, account: command.payment.gateway_account });
    if (decision.allowed) return false;
    this.stats.rateLimited += 1;
    const retryAfterS = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
    refuse(
      res,
      notification,
      429,
      jsonRpcError(id, JSON_RPC.RATE_LIMITED, `command not accepted: the ${decision.scope} rate limit is reached; send it again after ${retryAfterS} s`, {
        reason: 'rate_limited',
        scope: decision.scope,
        retry_after_s: retryAfterS,
      }),
      {
        'retry-after': String(retryAfterS),
      },
    );
    return true;
  }

  /**
   * What the issued-token index says of a payment command's card-like `payment.gateway_key` and
   * `payment.recurring.network_transaction_id` (one GET each, only for such a value of a command this endpoint handles). Redis unable to answer: 503 with Retry-After answered here, and null
   * (the command not processed: the bus sends it again), never a refusal as card data nor an internal error.
   */
  private async issuedTokenLookup(res: ServerResponse, envelope: JsonRpcEnvelope): Promise<IssuedTokenLookup | null> {
    const named = paramsOf(envelope);
    if (!named.ok || !this.methods.has(envelope.method)) return {};
    try {
      return await issuedTokenOf(this.deps.issuedTokens, named.params, this.deps.config.gateways);
    } catch (err) {
      this.stats.unavailable += 1;
      this.deps.logger.warn('intake could not ask the issued-token index; answering 503 so the bus sends the command again', {
        ...(envelope.id !== null ? { rpc_id: envelope.id } : {}),
        error: (err as Error).message,
      });
      refuse(
        res,
        envelope.notification,
        503,
        jsonRpcError(envelope.id, JSON_RPC.UNAVAILABLE, 'command not processed: the ledger is unavailable, send it again later'),
        {
          'retry-after': '1',
        },
      );
      return null;
    }
  }

  /**
   * Whether the ledger already holds the command's explicit `operation_reference` with another digest. One
   * Redis read, only for commands that carry one. If Redis cannot answer, the command goes on: the
   * consumer's ledger write compares the digests again and refuses the conflict there.
   */
  private async conflicts(command: PaymentCommand, operationId: string): Promise<boolean> {
    const { ledger, logger } = this.deps;
    if (!ledger || !command.payment.operation_reference) return false;
    try {
      const stored = await ledger.digestOf(operationId);
      return stored !== null && stored !== commandDigest(command);
    } catch (err) {
      logger.warn('intake could not read the ledger for an idempotency check; the consumer will check', {
        operation_id: operationId,
        error: (err as Error).message,
      });
      return false;
    }
  }

  /**
   * The dead-letter record of a body refused for its size (413): the reason with the size and the limit, the
   * route, whether an X-Signature came with it (never checked: the body was not read whole) and the request's
   * `X-Request-Id` if it sent one. No byte of the body: it was never kept and may hold card data; the record's
   * body says only that it was withheld and its size. The dead letter's id and time are its own headers.
   */
  private async deadLetterOversized(req: IncomingMessage, err: BodyTooLargeError): Promise<void> {
    const { config, logger } = this.deps;
    const size =
      err.size === undefined ? 'of unknown size' : err.size.declared ? `of ${err.size.bytes} bytes (Content-Length)` : `of at least ${err.size.bytes} bytes`;
    const reason = `body too large: ${size}, over the ${err.limit}-byte limit (http.body_limit_bytes)`;
    const route = `${req.method ?? 'POST'} ${config.http.intakePath}`;
    const signature = req.headers['x-signature'] === undefined ? 'absent' : 'present, not checked (body not read)';
    const requestId = req.headers['x-request-id'];
    this.refusals.warn('BODY_TOO_LARGE', 'intake refused a body above http.body_limit_bytes with 413 (rate-limited: one line per minute)', {
      code: 'BODY_TOO_LARGE',
      limit_bytes: err.limit,
      ...(err.size ? { body_bytes: err.size.bytes, declared: err.size.declared } : {}),
    });
    if (!this.takeOversizedToken()) {
      // Answered and counted (pb_intake_rejects_total) all the same; the warn line above says how many there were.
      oversizedSkipped.inc();
      return;
    }
    const withheld = { withheld: 'body too large: not read, not kept', ...(err.size ? { bytes: err.size.bytes } : {}), limit: err.limit };
    try {
      await this.deps.deadLetters.write(
        Buffer.from(JSON.stringify(withheld)),
        { code: 'BODY_TOO_LARGE', field: '(root)', reason, source: 'http:intake' },
        {
          'x-pb-route': route,
          'x-pb-signature': signature,
          ...(typeof requestId === 'string' && requestId !== '' ? { 'x-pb-request-id': requestId } : {}),
        },
      );
    } catch (writeErr) {
      // The client still gets its 413; the log line above is the record of last resort.
      logger.error('dead-letter write failed for an intake body refused for its size', { code: 'BODY_TOO_LARGE', error: (writeErr as Error).message });
    }
  }

  /** One BODY_TOO_LARGE dead letter may be written now (see {@link OVERSIZED_DEAD_LETTER_BURST}); takes it. */
  private takeOversizedToken(now = Date.now()): boolean {
    const bucket = this.oversizedTokens;
    const added = Math.floor((now - bucket.at) / OVERSIZED_DEAD_LETTER_REFILL_MS);
    if (added > 0) {
      bucket.left = Math.min(OVERSIZED_DEAD_LETTER_BURST, bucket.left + added);
      bucket.at += added * OVERSIZED_DEAD_LETTER_REFILL_MS;
    }
    if (bucket.left < 1) return false;
    if (bucket.left === OVERSIZED_DEAD_LETTER_BURST) bucket.at = now;
    bucket.left -= 1;
    return true;
  }

  /**
   * Answers the JSON-RPC error naming the field, and leaves a (redacted) dead-letter record; a record the broker does
   * not take (DependencyUnavailableError) makes it a 503 instead: not processed, the bus sends it again.
   */
  private async reject(
    res: ServerResponse,
    raw: Buffer,
    id: JsonRpcId,
    rpcCode: number,
    code: string,
    field: string,
    reason: string,
    /**
     * A refusal about a known operation (an idempotency conflict): its id goes on the log line, the dead
     * letter and the error's data. `notification`: the request had no `id`, so it gets no reply body.
     * `minorReason`: the reason in minor units when `reason` is told in a major-unit bus's units (the log line's).
     */
    about: { operationId?: string; message?: string; notification?: boolean; minorReason?: string } = {},
  ): Promise<void> {
    const { operationId } = about;
    const ids = { ...refusalIdentifiers(raw), ...(id !== null ? { rpc_id: id } : {}) };
    // Refusals come after the X-Signature check (a bad one is a 401, never a dead letter): the bus signed it.
    const headers = { ...refusalHeaders(ids), [AUTHENTICATED_CHANNEL_HEADER]: 'bus', ...(operationId ? { 'x-pb-operation-id': operationId } : {}) };
    // The bus sends a request again after a 503 (or an answer it lost): the same body refused the same way is the
    // same dead letter, found rather than written twice (`DeadLetterOnce`). The body's digest holds the JSON-RPC id.
    const identity = deadLetterIdentity(this.identityKey, undefined, raw, { code, field, reason }, { source: 'http:intake', ...headers });
    try {
      const written = await this.deps.deadLetters.write(raw, { code, field, reason, source: 'http:intake' }, headers, { identity });
      reportOnceGap(this.deps.logger, written, { dead_letter_id: written.id, reason: code.toLowerCase() });
      if (written.duplicate) {
        deadLetterDuplicates().inc({ reason: code.toLowerCase() });
        this.deps.logger.info('dead letter already written for this message: copy acked without a second record', {
          dead_letter_id: written.id,
          reason: code.toLowerCase(),
          code,
          source: 'http:intake',
        });
      }
    } catch (err) {
      if (err instanceof DependencyUnavailableError) {
        // The broker did not take the record (down, or the process stopping): a refusal answered now would live in
        // a log line only. Not processed instead, as an accepted command's publish is: the bus sends it again, and
        // the refusal is answered with its dead letter then.
        this.stats.unavailable += 1;
        this.deps.logger.warn('intake refusal could not be dead-lettered (broker unavailable); answering 503 so the bus sends it again', {
          code,
          field,
          ...ids,
          error: err.message,
        });
        refuse(
          res,
          about.notification === true,
          503,
          jsonRpcError(id, JSON_RPC.UNAVAILABLE, 'command not processed: the queue is unavailable, send it again later'),
          {
            'retry-after': '1',
          },
        );
        return;
      }
      // Any other failure: the bus still gets its answer; the log line below is the record of last resort.
      this.deps.logger.error('dead-letter write failed for a rejected intake command', { code, field, error: (err as Error).message });
    }
    this.stats.rejected += 1;
    intakeRejects.inc({ code });
    // The log keeps minor units, as the configuration says them; a reason told to a major-unit bus goes alongside.
    const said = about.minorReason !== undefined ? { reason: about.minorReason, reason_to_bus: reason } : { reason };
    this.deps.logger.warn(about.message ?? 'intake rejected a command', {
      code,
      field,
      ...said,
      ...ids,
      ...(operationId ? { operation_id: operationId } : {}),
    });
    if (about.notification === true) noReply(res);
    else
      sendJson(
        res,
        200,
        jsonRpcError(id, rpcCode, `${field}: ${reason}`, { field, reason, ...(operationId ? { code, operation_reference: operationId } : {}) }),
      );
  }
}

/** The HTTP answer to a JSON-RPC notification: nothing to reply (the log line and dead letter record a refusal). */
function noReply(res: ServerResponse): void {
  res.writeHead(204);
  res.end();
}

/**
 * A "send it again later" refusal (429, 503 with Retry-After). To a notification the status and headers
 * alone: "The Server MUST NOT reply to a Notification" (JSON-RPC 2.0, section 4.1,
 * https://www.jsonrpc.org/specification#notification), so no JSON-RPC error object goes with them.
 */
function refuse(res: ServerResponse, notification: boolean, status: number, answer: JsonRpcResponse, headers: Record<string, string>): void {
  if (!notification) {
    sendJson(res, status, answer, headers);
    return;
  }
  res.writeHead(status, { ...headers, 'content-length': '0' });
  res.end();
}
