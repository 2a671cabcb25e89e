/** Alert inputs the alert tests emit and store. */
import type { AlertInput } from '../../src/alerts/index.ts';

/** A `target_exceeded` alert of operation `op_{n}` of `svc` (3 s against 2 s), at `timeMs` if given. */
export function targetAlert(n: number | string, timeMs?: number): AlertInput {
  return {
    type: 'target_exceeded',
    service: 'svc',
    operation: `op_${n}`,
    value: 3,
    threshold: 2,
    unit: 's',
    summary: `Operation "op_${n}" took 3 s.`,
    ...(timeMs === undefined ? {} : { timeMs }),
  };
}
