import { Config } from '../../../src/config/config';
import { ActionCompletionResult } from '../../../src/delivery/action-completion';
import { ActionResult } from '../../../src/contracts/three-ds';
import { PaymentCommand } from '../../../src/contracts/payment-command';
import { amqpClient, deadLettersUntil, ofOrder } from '../../support/amqp-helpers';
import { captureLogger } from '../../support/capture-logger';
import { channelCommand } from '../../support/fixtures';
import { testConfig } from '../../support/test-config';
import { IntakeProcess, startIntakeProcess } from '../../support/intake-process';
import { eventually } from '../../support/tcp-proxy';

jest.setTimeout(120_000);

/**
 * Intake of `payment.action_result` on the real RabbitMQ and Redis: the same authorize sent again with the
 * challenge's result is handed to the action completion (src/delivery/action-completion.ts, played end to
 * end in test/integration/methods/cybersource-payer-auth.test.ts); bad input is dead-lettered naming the
 * field; the same command without it stays a plain duplicate; other money is an idempotency conflict.
 */
describe('intake of a customer action completion (payment.action_result)', () => {
  let config: Config;
  let worker: IntakeProcess;
  let client: Awaited<ReturnType<typeof amqpClient>>;
  const logs = captureLogger();
  const calls: Array<{ id: string; result: ActionResult }> = [];
  let answer: ActionCompletionResult = 'applied';

  beforeAll(async () => {
    config = testConfig();
    client = await amqpClient(config);
    worker = await startIntakeProcess(config, logs.logger, {
      actionCompletion: {
        complete: async (id: string, result: ActionResult) => {
          calls.push({ id, result });
          return Promise.resolve(answer);
        },
      },
    });
  });

  afterAll(async () => {
    await worker.stop();
    await client.deleteNamespace();
    await client.close();
  });

  beforeEach(async () => {
    calls.length = 0;
    answer = 'applied';
    await client.drainDeadLetters();
  });

  /** Publishes `body` and returns the headers of its dead letter: the one of its order, not the first one a count meets (another test's may be confirmed late). */
  async function deadLetterOf(body: PaymentCommand): Promise<Record<string, unknown>> {
    const before = worker.consumer.stats.deadLettered;
    await client.publish('web.payment.authorize', body);
    await eventually(() => worker.consumer.stats.deadLettered > before);
    const dead = (await deadLettersUntil(client, (seen) => seen.some(ofOrder(body.payment.order_id)))).filter(ofOrder(body.payment.order_id));
    expect(dead).toHaveLength(1);
    return dead[0].properties.headers ?? {};
  }

  async function waiting() {
    const command = channelCommand('authorize', {}, { gateway: 'cybs', amount: 2599, currency: 'EUR' });
    await worker.ledger.create(command.payment.operation_reference!, command);
    return command;
  }

  it('hands the re-sent authorize with action_result to the completion, never creating or queuing anything', async () => {
    const command = await waiting();
    const id = command.payment.operation_reference!;
    const accepted = worker.consumer.stats.accepted;
    await client.publish('web.payment.authorize', { ...command, payment: { ...command.payment, action_result: { authentication_transaction_id: 'atid42' } } });
    await eventually(() => calls.length === 1);
    expect(calls[0]).toEqual({ id, result: { authentication_transaction_id: 'atid42' } });
    await eventually(() => worker.consumer.stats.accepted === accepted + 1);
    expect(await worker.deliveryQueue.getJob(id)).toBeUndefined();
  });

  it('keeps the same command without action_result a plain duplicate', async () => {
    const command = await waiting();
    const duplicates = worker.consumer.stats.duplicates;
    await client.publish('web.payment.authorize', command);
    await eventually(() => worker.consumer.stats.duplicates === duplicates + 1);
    expect(calls).toHaveLength(0);
  });

  it('refuses, naming payment.action_result, a completion nothing waits for, of a capture, or on a webhook-completed gateway', async () => {
    const unknown = channelCommand('authorize', {}, { action_result: { authentication_transaction_id: 'atid1' } });
    expect(await deadLetterOf(unknown)).toMatchObject({ 'x-pb-code': 'INVALID_PARAMS', 'x-pb-field': 'payment.action_result' });
    expect(await worker.ledger.get(unknown.payment.operation_reference!)).toBeNull();

    const capture = channelCommand('capture', {}, { action_result: { authentication_transaction_id: 'atid1' } });
    expect(await deadLetterOf(capture)).toMatchObject({ 'x-pb-field': 'payment.action_result' });

    answer = 'unsupported';
    const command = await waiting();
    expect(await deadLetterOf({ ...command, payment: { ...command.payment, action_result: { authentication_transaction_id: 'atid2' } } })).toMatchObject({
      'x-pb-field': 'payment.action_result',
    });
  });

  it('refuses a malformed action_result at validation, naming the field', async () => {
    const command = await waiting();
    const headers = await deadLetterOf({ ...command, payment: { ...command.payment, action_result: { authentication_transaction_id: 'not an id' } } });
    expect(String(headers['x-pb-field'])).toMatch(/^payment\.action_result/);
    expect(calls).toHaveLength(0);
  });

  it('refuses a completion with other money as an idempotency conflict', async () => {
    const command = await waiting();
    const headers = await deadLetterOf({
      ...command,
      payment: { ...command.payment, amount: 9999, action_result: { authentication_transaction_id: 'atid3' } },
    });
    expect(headers['x-pb-code']).toBe('IDEMPOTENCY_CONFLICT');
    expect(calls).toHaveLength(0);
  });
});
