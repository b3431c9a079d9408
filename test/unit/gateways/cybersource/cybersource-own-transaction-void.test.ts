import { readFileSync } from 'node:fs';
import path from 'node:path';
import { declineOf } from '../../../../src/errors/decline';
import { cybersourceTransformer as t } from '../../../../src/gateways/cybersource';
import { voidsOwnTransaction } from '../../../../src/gateways/gateway-registry';
import { OperationContext } from '../../../../src/gateways/gateway-adapter';
import { bodyOf, ctx, gateway, response } from './cybersource-test-fixtures';

/**
 * A cancel naming one of our captures or refunds by its operation id is sent to Cybersource as "Void a Capture"
 * (`POST /pts/v2/captures/{id}/voids`) or "Void a Refund" (`POST /pts/v2/refunds/{id}/voids`), by that transaction's
 * own id, and its answers read as the spec (test/fixtures/specs/cybersource-payments-2020-02-17.json) documents them.
 */

interface SpecOperation {
  parameters: Array<{ in: string; schema?: { properties?: Record<string, { properties?: Record<string, unknown> }> } }>;
  responses: Record<string, { schema?: { properties?: Record<string, { description?: string }> } }>;
}
const spec = JSON.parse(readFileSync(path.join(__dirname, '../../../fixtures/specs/cybersource-payments-2020-02-17.json'), 'utf8')) as {
  paths: Record<string, { post?: SpecOperation }>;
};

const CAPTURE_ID = '6950605680120491268584';
const REFUND_ID = '6950605680120491268591';

/** The cancel's context as `resolveOperationContext` gives it: the named transaction's Cybersource id as `gateway_key`. */
function voidOf(command: 'capture' | 'refund', reference: string): OperationContext {
  return { ...ctx('cancel', { gateway_key: reference }), voidOf: { command, operationId: `op-${command}-1` } };
}

/** The spec's path template a request path matches (`{id}` for the one segment). */
function specPathOf(requestPath: string): string {
  return requestPath.replace(/^\/pts\/v2\/(captures|refunds)\/[^/]+\/voids$/, '/pts/v2/$1/{id}/voids');
}

describe('Cybersource void of a capture or refund named by its own id', () => {
  it('is a capture and refund void at Cybersource only: the registry says so for its type', () => {
    expect(voidsOwnTransaction('cybersource', 'capture')).toBe(true);
    expect(voidsOwnTransaction('cybersource', 'refund')).toBe(true);
    expect(voidsOwnTransaction('adyen', 'capture')).toBe(false);
    expect(voidsOwnTransaction('stripe', 'refund')).toBe(false);
  });

  it.each([
    ['capture', CAPTURE_ID, `/pts/v2/captures/${CAPTURE_ID}/voids`],
    ['refund', REFUND_ID, `/pts/v2/refunds/${REFUND_ID}/voids`],
  ] as const)('voids a %s by its own id at the path the spec documents, with the merchant reference and no amount', (command, reference, expected) => {
    const req = t.buildRequest(voidOf(command, reference), gateway);
    expect(req.method).toBe('POST');
    expect(req.path).toBe(expected);
    expect(bodyOf(req.body)).toEqual({ clientReferenceInformation: { code: 'op-cancel-1' } });
    // Every field sent is one the spec's request schema of that operation declares.
    const operation = spec.paths[specPathOf(req.path)]?.post;
    expect(operation).toBeDefined();
    const schema = operation!.parameters.find((p) => p.in === 'body')?.schema;
    expect(Object.keys(schema?.properties ?? {})).toContain('clientReferenceInformation');
    expect(Object.keys(schema?.properties?.clientReferenceInformation?.properties ?? {})).toContain('code');
  });

  it('sends the void whatever the authorization holds: never an authorization reversal, even with captures on record', () => {
    const withCaptured: OperationContext = {
      ...voidOf('capture', CAPTURE_ID),
      captured: {
        by: 'capture',
        authorized: { amount: 10221, currency: 'USD' },
        captures: [{ id: 'op-capture-2', reference: '6950605680120491268600', amount: 5000 }],
      },
    };
    expect(t.buildRequest(withCaptured, gateway).path).toBe(`/pts/v2/captures/${CAPTURE_ID}/voids`);
  });

  it('keeps a reference in its one path segment: encoded, and `..` refused naming payment.gateway_key', () => {
    expect(t.buildRequest(voidOf('capture', '../payments/1'), gateway).path).toBe('/pts/v2/captures/..%2Fpayments%2F1/voids');
    expect(() => t.buildRequest(voidOf('refund', '..'), gateway)).toThrow(/payment\.gateway_key/);
  });

  it.each([
    ['capture', '/pts/v2/captures/{id}/voids'],
    ['refund', '/pts/v2/refunds/{id}/voids'],
  ] as const)('reads a %s void answer as the spec documents it (%s): a 201 VOIDED is a success, a 400 NOT_VOIDABLE a refusal', (command, p) => {
    const responses = spec.paths[p]?.post?.responses ?? {};
    // The statuses and reasons the spec names for this operation, fed through the parser.
    expect(responses['201']?.schema?.properties?.status?.description).toContain('VOIDED');
    expect(responses['400']?.schema?.properties?.reason?.description).toContain('NOT_VOIDABLE');
    const c = voidOf(command, CAPTURE_ID);
    expect(t.parseResponse(c, response(201, { id: '6541933390746728203005', status: 'VOIDED' }), gateway)).toMatchObject({
      status: 'SUCCESS',
      gatewayStatus: 'VOIDED',
    });
    expect(t.parseResponse(c, response(400, { status: 'INVALID_REQUEST', reason: 'NOT_VOIDABLE', message: 'not voidable' }), gateway)).toMatchObject({
      status: 'FAIL',
      reason: 'NOT_VOIDABLE',
    });
  });

  it.each([
    ['capture', 201, 'PENDING'],
    ['capture', 201, 'TRANSMITTED'],
    ['refund', 201, 'PENDING'],
    ['capture', 202, 'VOIDED'],
    ['refund', 202, 'PENDING'],
  ] as const)('takes a %s void answered %i %s for no void done: outcome unknown (asked about), never a success', (command, http, status) => {
    const answer = response(http, {
      id: '6541933390746728203005',
      submitTimeUtc: '2026-12-05T10:00:00Z',
      status,
      clientReferenceInformation: { code: 'op-cancel-1' },
    });
    expect(() => t.parseResponse(voidOf(command, CAPTURE_ID), answer, gateway)).toThrow(expect.objectContaining({ kind: 'outcome_unknown' }));
  });

  it('still reads an authorization cancel answered 201 REVERSED as a success, as before (only a named void needs VOIDED)', () => {
    expect(t.parseResponse(ctx('cancel'), response(201, { id: '6541933390746728203005', status: 'REVERSED' }), gateway)).toMatchObject({ status: 'SUCCESS' });
  });

  it.each([
    ['a status VOIDED', 'SUCCESS', { status: 'VOIDED' }],
    [
      'an ics_void application VOIDED',
      'SUCCESS',
      { applicationInformation: { rCode: '1', applications: [{ name: 'ics_void', status: 'VOIDED', rCode: '1' }] } },
    ],
    [
      "an ics_void application with rCode 1 and no status (the search names each service's result)",
      'SUCCESS',
      { applicationInformation: { rCode: '1', rFlag: 'SOK', reasonCode: '100', applications: [{ name: 'ics_void', rCode: '1', rFlag: 'SOK' }] } },
    ],
    [
      'an ics_void application with rCode 1 and status PENDING',
      'PENDING',
      { applicationInformation: { rCode: '1', applications: [{ name: 'ics_void', status: 'PENDING', rCode: '1' }] } },
    ],
    [
      'another application with rCode 1 (no void named)',
      'PENDING',
      { applicationInformation: { rCode: '1', applications: [{ name: 'ics_bill', rCode: '1' }] } },
    ],
    ['rCode 1 only', 'PENDING', { applicationInformation: { rCode: '1', rFlag: 'SOK', reasonCode: '100' } }],
    ['a status PENDING', 'PENDING', { status: 'PENDING' }],
  ] as const)(
    "counts an inquiry's hit for a void only when it shows it VOIDED or its ics_void application succeeded: %s reads %s",
    (_what, expected, summary) => {
      const search = response(201, {
        totalCount: 1,
        _embedded: {
          transactionSummaries: [
            { id: '6541933390746728203005', submitTimeUtc: '2026-12-05T10:00:00Z', clientReferenceInformation: { code: 'op-cancel-1' }, ...summary },
          ],
        },
      });
      expect(t.parseStatusResponse(voidOf('capture', CAPTURE_ID), search, gateway)).toMatchObject({ status: expected });
    },
  );

  it.each(['capture', 'refund'] as const)("maps a %s void's 201 VOIDED to SUCCESS with the amount Cybersource says it voided", (command) => {
    const outcome = t.parseResponse(
      voidOf(command, CAPTURE_ID),
      response(201, {
        id: '6541933390746728203005',
        submitTimeUtc: '2026-12-05T10:00:00Z',
        status: 'VOIDED',
        clientReferenceInformation: { code: 'op-cancel-1' },
        voidAmountDetails: { voidAmount: '50.00', currency: 'usd' },
      }),
      gateway,
    );
    expect(outcome).toMatchObject({ status: 'SUCCESS', gatewayStatus: 'VOIDED', gatewayReference: '6541933390746728203005', amount: 5000, currency: 'USD' });
  });

  it.each([
    ['capture', 'reverse_with_new_transaction'],
    ['refund', 'none'],
  ] as const)(
    'maps a %s void refused once the batch settled (400 NOT_VOIDABLE) to a FAIL suggesting %s (a capture: refund it instead; a refund: no new transaction undoes it)',
    (command, action) => {
      const outcome = t.parseResponse(
        voidOf(command, CAPTURE_ID),
        response(400, {
          submitTimeUtc: '2026-12-05T10:00:00Z',
          status: 'INVALID_REQUEST',
          reason: 'NOT_VOIDABLE',
          message: 'The capture or credit is not voidable because the capture or credit information has already been submitted to your processor.',
        }),
        gateway,
      );
      expect(outcome).toMatchObject({ status: 'FAIL', reason: 'NOT_VOIDABLE', decline: declineOf('operation_not_permitted', 'NOT_VOIDABLE', action) });
    },
  );
});
