import { lateFactsScene } from './late-facts';
import { limitsScene } from './limits';
import { orphanReversalScene } from './orphan-reversal';
import { reconciliationScene } from './reconciliation';
import { recurringDunningScene } from './recurring-dunning';
import { routingFailoverScene } from './routing-failover';
import { DemoScene } from './scene';
import { splitTenderScene } from './split-tender';
import { unresolvedSettledLaterScene } from './unresolved-settled-later';

/** The scenes the demo plays after its main workload, in order. Add one line per scene. */
export const DEMO_SCENES: readonly DemoScene[] = [
  orphanReversalScene,
  unresolvedSettledLaterScene,
  lateFactsScene,
  routingFailoverScene,
  recurringDunningScene,
  reconciliationScene,
  limitsScene,
  splitTenderScene,
];
