/**
 * The dashboard's action lists mask what they show of a stored record (a second line after the writers'
 * redaction, as the dead letters and operations are shown): a webhook outcome given up on and a parked split
 * tender, whose stores the browser test (test/integration/console/console-card-data.test.ts) does not fill.
 */
import { dashboardPage } from '../../../src/console/console-pages';
import { ConsoleSnapshot } from '../../../src/console/console-snapshot';
import { TEST_PANS } from '../../support/fixtures';

const EMPTY = { open: 0, replayed: 0 };
const COUNTS = { received: 0, succeeded: 0, failed: 0, successRate: null };

function snapshot(lists: Partial<ConsoleSnapshot>): ConsoleSnapshot {
  return {
    at: Date.now(),
    kpis: { lastMinute: COUNTS, last15Minutes: COUNTS, latencyMs: null, byState: { UNRESOLVED: 0, UNKNOWN: 0, PENDING: 0 }, intakeRejects: 0 },
    stuck: [],
    deadLetters: [],
    deadLetterPaging: {},
    deadLetterSummary: { hard: EMPTY, config: EMPTY, outage: EMPTY, unknown: EMPTY },
    deadLetterArchiveIntervalMs: 0,
    breakers: [],
    gateways: [],
    audit: [],
    rejectedEvents: [],
    failedWebhooks: [],
    reviews: [],
    parkedSplits: [],
    heldRecaptures: [],
    reconciliation: [],
    reconciliationGateways: [],
    fleet: { processes: [], releases: [] },
    ...lists,
  } as unknown as ConsoleSnapshot;
}

describe("console dashboard: no card number in its lists' text, attributes or values", () => {
  it('masks a webhook outcome given up on and a parked split tender, keeping the rows and their figures', () => {
    const page = dashboardPage(
      { base: '/console', user: 'operator', csrf: 'token' },
      snapshot({
        failedWebhooks: [
          {
            gateway: 'simulator',
            event_id: `evt-${TEST_PANS[0]}`,
            operation_id: null,
            psp_reference: `psp-${TEST_PANS[1]}`,
            outcome: `FAIL card ${TEST_PANS[2]}`,
            reason: `Error: card ${TEST_PANS[3]}`,
            attempts: 3,
            failed_at: '2026-12-07T02:00:00.000Z',
            place: '1:1',
          },
        ],
        parkedSplits: [{ split: `split-${TEST_PANS[4]}`, refund: `refund-${TEST_PANS[0]}`, faults: 7, error_class: `Error ${TEST_PANS[1]}`, parked_at: null }],
      }),
      'time',
      60_000,
    );
    for (const pan of TEST_PANS) expect(page).not.toContain(pan);
    expect(page).toContain('data-webhook="simulator/evt-');
    expect(page).toContain('FAIL card ');
    expect(page).toContain('data-split="split-');
    expect(page).toMatch(/<td class="num">7<\/td>/);
  });
});
