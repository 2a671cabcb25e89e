/**
 * Child processes of the benchmarks (servers under test, load clients).
 */
import type { ChildProcess } from 'node:child_process';

/** SIGTERM, then SIGKILL after 6 s; resolves once the child has exited. */
export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 6000);
  await exited;
  clearTimeout(timer);
}
