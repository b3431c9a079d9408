import { GatewayError } from '../../../src/errors/gateway-error';
import { cybersourceTransformer } from '../../../src/gateways/cybersource/cybersource-transformer';
import { GatewayConfig } from '../../../src/gateways/gateway-config';
import { GatewayRoute } from '../../../src/gateways/gateway-route';
import { Ledger, OperationRecord } from '../../../src/ledger/ledger';
import { draftRecord } from '../../../src/ledger/record-fields';
import { believableAt, readPspState } from '../../../src/webhooks/psp-current-state';
import { channelCommand } from '../../support/fixtures';

const RECEIVED = 1_800_000_000_000;
const LAG = 60 * 60 * 1000;

describe('believableAt', () => {
  it('puts off an answer from a search index until its lag has passed since the webhook arrived', () => {
    expect(believableAt({ lagMs: LAG }, RECEIVED, RECEIVED + 1000)).toBe(RECEIVED + LAG);
    expect(believableAt({ lagMs: LAG }, RECEIVED, RECEIVED + LAG - 1)).toBe(RECEIVED + LAG);
  });

  it('believes it once the lag has passed, and at once from an inquiry that reads the object itself (no lag)', () => {
    expect(believableAt({ lagMs: LAG }, RECEIVED, RECEIVED + LAG)).toBeNull();
    expect(believableAt({ lagMs: 0 }, RECEIVED, RECEIVED)).toBeNull();
  });
});

describe('readPspState: an operation older than what its status search reaches', () => {
  const DAY = 24 * 60 * 60 * 1000;
  const NOW = RECEIVED;

  /** A Cybersource sale FAILED long ago, sent last `sentAgo` ms before now; the search client counting its calls. */
  function setup(sentAgo: number): { op: OperationRecord; deps: Parameters<typeof readPspState>[1]; asked: () => number } {
    const cmd = channelCommand('sale', {}, { gateway: 'cyb', amount: 5000, currency: 'EUR' });
    const op: OperationRecord = { ...draftRecord(cmd.payment.operation_reference!, cmd, NOW - sentAgo - DAY), state: 'FAILED' };
    let calls = 0;
    const gateway = { name: 'cyb', type: 'cybersource' } as unknown as GatewayConfig;
    const client = {
      send: async (): Promise<never> => {
        calls += 1;
        throw new GatewayError('not_sent', 'cyb', 'unreachable');
      },
    } as unknown as GatewayRoute['client'];
    const history = [
      { at: NOW - sentAgo - DAY, event: 'attempt' },
      { at: NOW - sentAgo, event: 'attempt' },
    ];
    const ledger = { interactions: async () => history } as unknown as Ledger;
    return { op, deps: { ledger, router: { route: () => ({ gateway, transformer: cybersourceTransformer, client }) }, now: () => NOW }, asked: () => calls };
  }

  it('cannot ask Cybersource about a sale last sent 8 days ago (its search reaches 7): the signed webhook decides, the search is not asked', async () => {
    const { op, deps, asked } = setup(8 * DAY);
    expect(await readPspState(op, deps)).toEqual({ kind: 'cannot_ask' });
    expect(asked()).toBe(0);
  });

  it('asks about one whose last attempt the search still reaches', async () => {
    const { op, deps, asked } = setup(6 * DAY);
    expect(await readPspState(op, deps)).toMatchObject({ kind: 'unanswered' });
    expect(asked()).toBe(1);
  });
});
