import { orphanReversalScene } from './orphan-reversal';
import { DemoScene } from './scene';

/** The scenes the demo plays after its main workload, in order. Add one line per scene. */
export const DEMO_SCENES: readonly DemoScene[] = [
  orphanReversalScene,
];
