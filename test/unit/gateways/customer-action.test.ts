import { noteTrimmedAction, withBoundedAction } from '../../../src/gateways/action-trimming';
import { CustomerAction, MAX_ACTION_BYTES, MAX_ACTION_URL_BYTES, boundedAction } from '../../../src/gateways/customer-action';
import { GatewayOutcome } from '../../../src/gateways/gateway-adapter';
import { metricValue } from '../../../src/metrics/metrics-registry';
import { captureLogger } from '../../support/capture-logger';

const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');
const SECRET = 'pi_123_secret_abc';

describe('boundedAction', () => {
  it('keeps an action that fits whole, the same object', () => {
    const action: CustomerAction = { kind: 'three_ds', url: 'https://psp.example/3ds', client_secret: SECRET, psp_action: { type: 'use_stripe_sdk' } };
    expect(boundedAction(action)).toEqual({ action, dropped: [], bytes: 0 });
    expect(boundedAction(action).action).toBe(action);
  });

  it('drops the PSP object of a big action, keeping url and client secret', () => {
    const action: CustomerAction = { kind: 'sdk', url: 'https://psp.example/r', client_secret: SECRET, psp_action: { blob: 'x'.repeat(MAX_ACTION_BYTES) } };
    const bounded = boundedAction(action);
    expect(bounded.action).toEqual({ kind: 'sdk', url: 'https://psp.example/r', client_secret: SECRET });
    expect(bounded.dropped).toEqual(['psp_action']);
    expect(bounded.bytes).toBe(bytes(action));
  });

  it('counts the cap in bytes, not characters: 12 000 three-byte characters are above 32 KiB', () => {
    const action: CustomerAction = { kind: 'voucher', psp_action: { text: '€'.repeat(12_000) } };
    expect(JSON.stringify(action).length).toBeLessThan(MAX_ACTION_BYTES);
    expect(boundedAction(action).action).toEqual({ kind: 'voucher' });
  });

  it('drops a huge url: kind and the client secret are kept', () => {
    const action: CustomerAction = {
      kind: 'redirect',
      url: `https://psp.example/?q=${'a'.repeat(40_000)}`,
      client_secret: SECRET,
      psp_action: { type: 'redirect' },
    };
    const bounded = boundedAction(action);
    expect(bounded.action).toEqual({ kind: 'redirect', client_secret: SECRET });
    expect(bounded.dropped).toEqual(['psp_action', 'url']);
    expect(bytes(bounded.action)).toBeLessThanOrEqual(MAX_ACTION_BYTES);
  });

  it('drops a huge client secret, and keeps a url under its own bound', () => {
    const url = `https://psp.example/${'u'.repeat(MAX_ACTION_URL_BYTES - 100)}`;
    const action: CustomerAction = { kind: 'three_ds', url, client_secret: 's'.repeat(40_000) };
    const bounded = boundedAction(action);
    expect(bounded.action).toEqual({ kind: 'three_ds', url });
    expect(bounded.dropped).toEqual(['client_secret']);
  });

  it('drops a url above 8 KiB when url and secret together are above the cap', () => {
    const action: CustomerAction = { kind: 'redirect', url: 'u'.repeat(MAX_ACTION_URL_BYTES + 1), client_secret: 's'.repeat(30_000) };
    expect(boundedAction(action)).toMatchObject({ action: { kind: 'redirect' }, dropped: ['url', 'client_secret'] });
  });

  it('drops keys no action has', () => {
    const action = { kind: 'other', extra: 'x'.repeat(40_000) } as unknown as CustomerAction;
    expect(boundedAction(action)).toMatchObject({ action: { kind: 'other' }, dropped: ['other'] });
  });
});

describe('withBoundedAction and noteTrimmedAction', () => {
  const outcome = (action?: CustomerAction): GatewayOutcome => ({
    status: 'ACTION_REQUIRED',
    gatewayStatus: 'requires_action',
    gatewayReference: 'pi_1',
    action,
  });

  it('leaves an outcome without action or with one that fits as it is', () => {
    const none = outcome();
    expect(withBoundedAction(none)).toEqual({ outcome: none });
    const small = outcome({ kind: 'await' });
    expect(withBoundedAction(small).outcome).toBe(small);
  });

  it('bounds the action of an outcome; counted by part; the warn line names the operation and never the action', async () => {
    const big = outcome({
      kind: 'redirect',
      url: `https://psp.example/${'z'.repeat(50_000)}`,
      client_secret: SECRET,
      psp_action: { type: 'x', data: 'y'.repeat(50_000) },
    });
    const { outcome: bounded, trimmed } = withBoundedAction(big);
    expect(bounded.action).toEqual({ kind: 'redirect', client_secret: SECRET });
    expect(bounded.gatewayReference).toBe('pi_1');
    const before = await metricValue('pb_customer_actions_trimmed_total', { gateway: 'stripe', part: 'url' });
    const { logger, lines } = captureLogger();
    noteTrimmedAction(logger, trimmed!, { gateway: 'stripe', source: 'inquiry', operationId: 'op-1', gatewayReference: 'pi_1' });
    expect(await metricValue('pb_customer_actions_trimmed_total', { gateway: 'stripe', part: 'url' })).toBe(before + 1);
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(line).toMatchObject({
      level: 'warn',
      operation_id: 'op-1',
      gateway: 'stripe',
      source: 'inquiry',
      dropped: ['psp_action', 'url'],
      action_kind: 'redirect',
    });
    expect(lines[0]).not.toContain('zzzz');
    expect(lines[0]).not.toContain(SECRET);
  });
});
