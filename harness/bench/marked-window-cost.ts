import { ProcessCost, WindowCost } from './process-cost';

/**
 * A {@link ProcessCost} window between two marks of a run's completions: it begins when `from` commands
 * have completed and ends at `to`, so it covers the steady part of a closed run (the in-flight limit grown,
 * connections open) and leaves out the start and the tail. Feed it every progress count; peaks are not reset.
 */
export class MarkedWindowCost {
  private begun: Promise<number> | undefined;
  private ended: Promise<WindowCost> | undefined;

  /** @param completed the run's completions so far (read at each mark; the commands between them divide the CPU) */
  constructor(
    private readonly cost: ProcessCost,
    private readonly completed: () => number,
    private readonly from: number,
    private readonly to: number,
  ) {}

  /** Takes a progress count; starts or ends the window when it passes a mark. */
  readonly onProgress = (done: number): void => {
    if (this.begun === undefined && done >= this.from) {
      this.begun = this.cost.begin({ resetPeaks: false }).then(() => this.completed());
    } else if (this.begun !== undefined && this.ended === undefined && done >= this.to) {
      this.ended = this.begun.then((doneAtBegin) => this.cost.end(this.completed() - doneAtBegin));
    }
  };

  /** The window's cost, or undefined when the run never passed both marks. */
  async result(): Promise<WindowCost | undefined> {
    return this.ended;
  }
}
