import http from 'node:http';
import { AddressInfo } from 'node:net';
import { CommandType } from '../../src/contracts/payment-command';
import { captureLogger } from './capture-logger';
import { channelCommand } from './fixtures';
import { WebhookStack, adyenWebhookGateway, postAdyenBatch, signedAdyenItem, useWebhookStack } from './webhook-stack';

/** Amount of every command these tests make, EUR minor units. */
export const STAND_IN_AMOUNT = 5000;

/** What happens to a modification request before the stand-in answers it; `answer: false` drops the connection. */
export type BeforeModificationAnswer = (pspReference: string) => Promise<{ answer: boolean }>;

/** The webhook stack with an `adyen` gateway pointed at a local Adyen Checkout v71 stand-in, and what it recorded. */
export interface AdyenStandInStack {
  readonly stack: WebhookStack;
  /** Notifications the bus was sent: method and params. */
  readonly sent: Array<{ method: string; params: Record<string, unknown> }>;
  /** The web process's log lines, from `info`. */
  readonly logs: ReturnType<typeof captureLogger>;
  /** What the stand-in answered, by operation id (the request's `reference`): its pspReference. */
  readonly pspReferences: Map<string, string>;
  /** Hooks run before a modification request is answered, by operation id; each runs once. */
  readonly beforeModificationAnswer: Map<string, BeforeModificationAnswer>;
  /** A pspReference as Adyen makes them (16 characters), `prefix` telling the kind apart in a failure message. */
  nextPspReference(prefix: string): string;
  /** `command` for `STAND_IN_AMOUNT` EUR of `orderId`, created in the ledger (not delivered); its operation id. */
  created(command: CommandType, orderId: string, gatewayKey: string): Promise<string>;
  /** Delivers operation `id` once (the worker's attempt); the state it is left in. */
  deliver(id: string): Promise<string>;
  /** Posts one signed item of `eventCode` about the modification `pspReference`, named by the payment's reference (Adyen's `reason` when given). */
  notifyNamingPayment(eventCode: string, authorization: string, pspReference: string, reason?: string): Promise<void>;
  /** SUCCESS events the OMS was sent for operation `id`. */
  successesSent(id: string): number;
}

/**
 * Registers (at a test file's top level) a local Adyen stand-in answering as Checkout v71 does — `/payments`
 * Authorised, `/payments/{psp}/captures|refunds|cancels` `received`, the same pspReference for a request resent
 * under the same reference (Idempotency-Key) — and the webhook stack whose `adyen` gateway (merchant account
 * `merchant`, HMAC key `hmacKey`) calls it.
 */
export function useAdyenStandInStack(merchant: string, hmacKey: string): AdyenStandInStack {
  const pspReferences = new Map<string, string>();
  const beforeModificationAnswer = new Map<string, BeforeModificationAnswer>();
  let pspSeq = 0;
  const nextPspReference = (prefix: string): string => `${prefix}${String(++pspSeq).padStart(16 - prefix.length, '0')}`;
  const kindPrefix: Record<string, string> = { captures: 'CAPT', refunds: 'REFD', cancels: 'CANC' };

  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
    req.on('end', () => {
      void (async () => {
        const body = JSON.parse(raw || '{}') as { reference?: string; amount?: unknown };
        const reference = body.reference ?? '';
        const answer = (payload: Record<string, unknown>): void => {
          pspReferences.set(reference, String(payload.pspReference));
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
        };
        if (req.method === 'POST' && req.url === '/v71/payments') {
          return answer({ pspReference: nextPspReference('AUTH'), resultCode: 'Authorised', merchantReference: reference, amount: body.amount });
        }
        const modification = /^\/v71\/payments\/([A-Z0-9]+)\/(captures|refunds|cancels)$/.exec(req.url ?? '');
        if (req.method === 'POST' && modification) {
          const [, payment, kind] = modification;
          const pspReference = pspReferences.get(reference) ?? nextPspReference(kindPrefix[kind]);
          pspReferences.set(reference, pspReference);
          const hook = beforeModificationAnswer.get(reference);
          beforeModificationAnswer.delete(reference);
          if (hook && !(await hook(pspReference)).answer) return void req.socket.destroy();
          return answer({ merchantAccount: merchant, paymentPspReference: payment, pspReference, reference, status: 'received', amount: body.amount });
        }
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ status: 404, errorCode: '000', message: 'not found', errorType: 'validation' }));
      })();
    });
  });
  let url = '';
  // Before the stack's own set-up (registered next), which reads the gateway's base_url.
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v71`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const sent: AdyenStandInStack['sent'] = [];
  const logs = captureLogger('info');
  const gateway = {
    ...adyenWebhookGateway(merchant, hmacKey),
    get base_url(): string {
      return url;
    },
  };
  const stack = useWebhookStack({ adyen: gateway }, { webLogger: logs.logger, notify: async (method, params) => void sent.push({ method, params }) });

  return {
    stack,
    sent,
    logs,
    pspReferences,
    beforeModificationAnswer,
    nextPspReference,
    async created(command, orderId, gatewayKey) {
      const cmd = channelCommand(command, {}, { gateway: 'adyen', gateway_key: gatewayKey, amount: STAND_IN_AMOUNT, currency: 'EUR', order_id: orderId });
      const id = cmd.payment.operation_reference!;
      await stack.worker.ledger.create(id, cmd);
      return id;
    },
    async deliver(id) {
      const step = await stack.worker.delivery.deliver(id);
      return step.kind === 'done' ? step.state : ((await stack.worker.ledger.get(id))?.state ?? step.kind);
    },
    async notifyNamingPayment(eventCode, authorization, pspReference, reason) {
      const item = signedAdyenItem(
        {
          eventCode,
          merchantReference: authorization,
          pspReference,
          originalReference: pspReferences.get(authorization)!,
          merchantAccountCode: merchant,
          amount: { value: STAND_IN_AMOUNT, currency: 'EUR' },
          ...(reason !== undefined ? { reason } : {}),
        },
        hmacKey,
      );
      expect(await postAdyenBatch(stack, 'adyen', [item])).toEqual({ status: 200, body: '[accepted]' });
    },
    successesSent(id) {
      return sent.filter((n) => {
        const payment = n.params.payment as { operation_reference?: string; status?: string } | undefined;
        return payment?.operation_reference === id && payment.status === 'SUCCESS';
      }).length;
    },
  };
}
