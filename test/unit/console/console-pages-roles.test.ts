/**
 * A viewer's dashboard shows the lists an operator acts on without one form that acts: only the search box and
 * the logout post (the route refuses the rest anyway: test/integration/console/console-accounts.test.ts).
 */
import { dashboardPage } from '../../../src/console/console-pages';
import { ConsoleSnapshot } from '../../../src/console/console-snapshot';

const EMPTY = { open: 0, replayed: 0 };
const COUNTS = { received: 0, succeeded: 0, failed: 0, successRate: null };

const SNAPSHOT = {
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
  failedWebhooks: [
    {
      gateway: 'simulator',
      event_id: 'evt-1',
      operation_id: null,
      psp_reference: 'psp-1',
      outcome: 'FAIL',
      reason: 'Error',
      attempts: 3,
      failed_at: '2026-12-07T02:00:00.000Z',
      place: '1:1',
    },
  ],
  reviews: [],
  parkedSplits: [{ split: 'split-1', refund: 'refund-1', faults: 7, error_class: 'Error', parked_at: null }],
  heldRecaptures: [],
  reconciliation: [],
  reconciliationGateways: [],
  fleet: { processes: [], releases: [] },
} as unknown as ConsoleSnapshot;

const postedTo = (page: string): string[] => [...page.matchAll(/<form[^>]*method="post"[^>]*action="([^"]+)"/g)].map((m) => m[1]).sort();

describe('console pages by role', () => {
  it("shows a viewer the lists' rows but no form that acts, and an operator the same rows with their forms", () => {
    const viewer = dashboardPage({ base: '/console', user: 'bob', role: 'viewer', csrf: 'token' }, SNAPSHOT, 'time', 60_000);
    const operator = dashboardPage({ base: '/console', user: 'alice', role: 'operator', csrf: 'token' }, SNAPSHOT, 'time', 60_000);
    expect(postedTo(viewer)).toEqual(['/console/logout', '/console/lookup']);
    expect(viewer).not.toMatch(/formaction=|type="checkbox"/);
    expect(viewer).toContain('data-webhook="simulator/evt-1"');
    expect(viewer).toContain('data-split="split-1/refund-1"');
    expect(viewer).toContain('bob (viewer)');
    expect(postedTo(operator)).toEqual(
      expect.arrayContaining([
        '/console/dead-letters/archive',
        '/console/webhooks/retry',
        '/console/split-tenders/resume',
        '/console/logout',
        '/console/lookup',
      ]),
    );
    expect(operator).toContain('alice (operator)');
  });
});
