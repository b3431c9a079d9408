/**
 * Preloaded into a bridge role process (`PB_ROLE_NODE_ARGS="--require dist/harness/bench/heap-sampling-probe.js"`),
 * never imported by the product: runs V8's sampling heap profiler from load to exit, keeping the objects that
 * scavenges and full collections freed (so the profile is what was allocated, not what is still alive), and
 * writes it as `<PB_HEAP_SAMPLE_DIR>/<pid>.heapprofile` when the process exits. Sum two runs' profiles by site
 * and divide their difference by the difference of their commands to get bytes a command without start-up.
 * `PB_HEAP_SAMPLE_INTERVAL` sets the mean sampling interval in bytes (default 8192).
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.env.PB_HEAP_SAMPLE_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.startSampling', {
    samplingInterval: Number(process.env.PB_HEAP_SAMPLE_INTERVAL ?? 8192),
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  // A session on the process's own thread answers synchronously, so this completes inside the exit handler.
  process.on('exit', () => {
    session.post('HeapProfiler.stopSampling', (err, result) => {
      if (!err) writeFileSync(join(dir, `${process.pid}.heapprofile`), JSON.stringify(result.profile));
    });
  });
}
