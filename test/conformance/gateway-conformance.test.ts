import { readdirSync } from 'node:fs';
import path from 'node:path';
import { CommandType } from '../../src/contracts/payment-command';
import { GatewayError } from '../../src/errors/gateway-error';
import { GatewayDefinition } from '../../src/gateways/gateway-definition';
import { GATEWAYS, GatewayType, gatewayStatusesOf } from '../../src/gateways/gateway-registry';
import { containsCardNumber } from '../../src/logging/redact';
import { ConformanceFixtures } from './conformance-fixtures';

/**
 * Every registered gateway, the simulator included, passes this one suite, with the fixture its definition
 * names (`conformanceFixture`): the suite reads the registry, it names no gateway.
 */
const ROOT = path.join(__dirname, '..', '..');
const dir = path.join(__dirname, 'fixtures');
const all: ConformanceFixtures[] = GATEWAYS.map(
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  (g) => (require(path.join(ROOT, g.conformanceFixture)) as { default: ConformanceFixtures }).default,
);

if (all.length === 0) throw new Error('no gateways registered in src/gateways/gateway-registry.ts');

/**
 * The commands of the canonical model whose request changes nothing at any PSP (src/contracts/stored-value.ts: a
 * balance inquiry reads the card): the only ones a gateway may declare `replayPerformsNothing`.
 */
const READS: readonly CommandType[] = ['balance_inquiry'];

describe('conformance fixtures', () => {
  it('every registered gateway names a fixture whose transformer is its own', () => {
    expect(GATEWAYS.map((g, i) => ({ type: g.type, sameTransformer: all[i]?.transformer === g.transformer }))).toEqual(
      GATEWAYS.map((g) => ({ type: g.type, sameTransformer: true })),
    );
  });

  it('every fixture file belongs to a registered gateway (a fixture nobody registered is a gateway half added)', () => {
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => `test/conformance/fixtures/${f}`)
      .sort();
    expect(files).toEqual(GATEWAYS.map((g) => g.conformanceFixture).sort());
  });
});

/**
 * The statuses a gateway declares bound the `gateway_status` metric label at that gateway (`gatewayStatusLabel`): one
 * its maps give an outcome and it did not declare would count as `other`.
 */
describe.each(GATEWAYS.map((g, i) => [g.type, g as GatewayDefinition, all[i]] as const))('gateway %s declares its PSP statuses', (type, definition, fx) => {
  it('declares a list of PSP status words, the set the registry gives for its type', () => {
    expect(Array.isArray(definition.pspStatuses)).toBe(true);
    expect(definition.pspStatuses.length).toBeGreaterThan(0);
    expect(definition.pspStatuses.filter((s) => typeof s !== 'string' || s.length === 0 || s.trim() !== s)).toEqual([]);
    expect([...gatewayStatusesOf(type as GatewayType)].sort()).toEqual([...new Set(definition.pspStatuses)].sort());
  });

  it("declares every status its maps give an outcome: each supported command's success, the decline, the signed webhook", () => {
    const t = fx.transformer;
    const declared = gatewayStatusesOf(type as GatewayType);
    const reported = t.supports.map((command) => {
      const ctx = fx.context(command);
      return `${command}: ${t.parseResponse(ctx, fx.successResponse(ctx), fx.gateway).gatewayStatus}`;
    });
    const declineCtx = fx.context(t.supports.includes('authorize') ? 'authorize' : t.supports[0]);
    reported.push(`decline: ${t.parseResponse(declineCtx, fx.declineResponse(declineCtx), fx.gateway).gatewayStatus}`);
    const hook = fx.signedWebhook(new Date());
    for (const event of t.parseWebhook(hook.rawBody, fx.gateway)) reported.push(`webhook: ${event.outcome.gatewayStatus}`);
    expect(reported.filter((r) => !declared.has(r.slice(r.indexOf(': ') + 2)))).toEqual([]);
  });
});

describe.each(all.map((f) => [f.name, f] as const))('gateway adapter %s', (_name, fx) => {
  const t = fx.transformer;

  it('builds the same request twice for the same operation (pure)', () => {
    for (const command of t.supports) {
      const ctx = fx.context(command);
      expect(t.buildRequest(ctx, fx.gateway)).toEqual(t.buildRequest(ctx, fx.gateway));
    }
  });

  it('carries the operation id as the idempotency key on every state-changing request', () => {
    for (const command of t.supports) {
      const ctx = fx.context(command);
      const req = t.buildRequest(ctx, fx.gateway);
      if (req.method === 'GET') continue;
      const key = Object.entries(req.headers).find(([h]) => h.toLowerCase() === 'idempotency-key')?.[1];
      const inBody = req.body?.includes(ctx.operationId) ?? false;
      expect(key === ctx.operationId || inBody).toBe(true);
    }
  });

  it('never puts a card number in a request', () => {
    for (const command of t.supports) {
      const req = t.buildRequest(fx.context(command), fx.gateway);
      const text = `${req.path} ${JSON.stringify(req.headers)} ${req.body ?? ''}`;
      expect(containsCardNumber(text)).toBe(false);
    }
  });

  it('maps a documented success of every supported command to an outcome', () => {
    for (const command of t.supports) {
      const ctx = fx.context(command);
      const outcome = t.parseResponse(ctx, fx.successResponse(ctx), fx.gateway);
      expect(['SUCCESS', 'PENDING']).toContain(outcome.status);
      expect(outcome.gatewayStatus.length).toBeGreaterThan(0);
    }
  });

  it('reports the amount and currency the PSP confirmed, in ISO minor units, for every money-moving success', () => {
    for (const command of t.supports.filter((c) => c === 'authorize' || c === 'sale' || c === 'capture' || c === 'refund')) {
      const ctx = fx.context(command);
      const outcome = t.parseResponse(ctx, fx.successResponse(ctx), fx.gateway);
      expect({ command, amount: outcome.amount, currency: outcome.currency }).toEqual({ command, amount: ctx.payment.amount, currency: ctx.payment.currency });
    }
  });

  it('reports the card a tokenize stored as the PSP described it: brand, four digits, expiry, never a card number', () => {
    for (const command of t.supports.filter((c) => c === 'tokenize')) {
      const ctx = fx.context(command);
      const outcome = t.parseResponse(ctx, fx.successResponse(ctx), fx.gateway);
      const card = outcome.storedCard;
      expect(card).toBeDefined();
      if (card?.lastFour !== undefined) expect(card.lastFour).toMatch(/^\d{4}$/);
      if (card?.expiryMonth !== undefined) expect(card.expiryMonth >= 1 && card.expiryMonth <= 12).toBe(true);
      expect(containsCardNumber(JSON.stringify(outcome))).toBe(false);
    }
  });

  it('maps a decline to FAIL with a reason, not to an error', () => {
    const ctx = fx.context(t.supports.includes('authorize') ? 'authorize' : t.supports[0]);
    const outcome = t.parseResponse(ctx, fx.declineResponse(ctx), fx.gateway);
    expect(outcome.status).toBe('FAIL');
    expect(outcome.reason).toBeTruthy();
  });

  it('classifies a 5xx as a retryable gateway error: resent with the same idempotency key (server_error), or looked up first where a resend could repeat it (outcome_unknown)', () => {
    const ctx = fx.context(t.supports[0]);
    expect(() => t.parseResponse(ctx, fx.serverErrorResponse(ctx), fx.gateway)).toThrow(GatewayError);
    try {
      t.parseResponse(ctx, fx.serverErrorResponse(ctx), fx.gateway);
    } catch (err) {
      expect((err as GatewayError).retryable).toBe(true);
      expect(['server_error', 'outcome_unknown']).toContain((err as GatewayError).kind);
    }
  });

  it('classifies a rate limit as retryable rate_limited', () => {
    const ctx = fx.context(t.supports[0]);
    try {
      t.parseResponse(ctx, fx.rateLimitResponse(ctx), fx.gateway);
      throw new Error('expected a GatewayError');
    } catch (err) {
      expect(err).toBeInstanceOf(GatewayError);
      expect((err as GatewayError).kind).toBe('rate_limited');
      expect((err as GatewayError).retryable).toBe(true);
    }
  });

  it('answers a status inquiry for an operation the PSP never saw with null; one that replays the request has no such answer (outcome unknown)', () => {
    const ctx = fx.context(t.supports[0]);
    // A replay that never landed performs the request now: a 404 to it is an edge's, never "never landed".
    if (t.inquiryReplaysRequest) {
      expect(() => t.parseStatusResponse(ctx, fx.statusNotFoundResponse(ctx), fx.gateway)).toThrow(
        expect.objectContaining({ kind: 'outcome_unknown', retryable: true }),
      );
    } else {
      expect(t.parseStatusResponse(ctx, fx.statusNotFoundResponse(ctx), fx.gateway)).toBeNull();
    }
  });

  it('declares a replay that performs nothing only for reads it carries, with an inquiry that replays, and for every such read', () => {
    const declared = t.replayPerformsNothing ?? [];
    // Each is a command it carries and a read: a replay of anything else past the key or max age could perform it again.
    expect(declared.filter((c) => !t.supports.includes(c) || !READS.includes(c))).toEqual([]);
    // Only a replaying inquiry is ever withheld, so the declaration means nothing elsewhere.
    if (t.inquiryReplaysRequest !== true) expect(declared).toEqual([]);
    // A replaying gateway's read left undeclared would be withheld, UNRESOLVED for good where no webhook settles it.
    else expect(t.supports.filter((c) => READS.includes(c) && !declared.includes(c))).toEqual([]);
  });

  it('verifies a correctly signed webhook and maps it to the expected outcome', () => {
    const now = new Date();
    const hook = fx.signedWebhook(now);
    expect(t.verifyWebhook(hook.rawBody, hook.headers, fx.gateway, now)).toBe(true);
    const events = t.parseWebhook(hook.rawBody, fx.gateway);
    expect(events.length).toBeGreaterThan(0);
    expect(events[0].eventId).toBeTruthy();
    expect(events[0].outcome.status).toBe(hook.expected);
    // The PSP-confirmed money, converted back to ISO minor units with the gateway's currency table.
    expect(events[0].outcome.currency).toMatch(/^[A-Z]{3}$/);
    expect(Number.isSafeInteger(events[0].outcome.amount)).toBe(true);
  });

  it('refuses a tampered webhook', () => {
    const now = new Date();
    const hook = fx.signedWebhook(now);
    const tampered = fx.tamper ? fx.tamper(hook.rawBody) : Buffer.from(hook.rawBody.toString('utf8').replace(/.$/s, (c) => (c === '}' ? ' }' : `${c} `)));
    expect(tampered.equals(hook.rawBody)).toBe(false);
    expect(t.verifyWebhook(tampered, hook.headers, fx.gateway, now)).toBe(false);
  });

  it('refuses an unsigned webhook', () => {
    const now = new Date();
    const hook = fx.signedWebhook(now);
    expect(t.verifyWebhook(hook.rawBody, {}, fx.gateway, now)).toBe(false);
  });
});
