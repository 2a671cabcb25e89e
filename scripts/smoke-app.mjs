// The start-up smoke test's app (scripts/smoke.sh runs it under the minimum Node):
// `node --import perf-sidecar/register scripts/smoke-app.mjs`. It starts the sidecar in-process on a
// free port, tracks one operation over its target, and checks through its own endpoints that /livez
// answers and that the operation was recorded (summary, /metrics, alert). It prints one line and
// exits 0 when all hold, or names what failed and exits 1.
import { trackOperation } from 'perf-sidecar';
import { startSidecar } from 'perf-sidecar/http';

const failures = [];
const sidecar = await startSidecar({ port: 0 });
try {
  await trackOperation('smoke_check', { targetSeconds: 0.01 }, () => new Promise((r) => setTimeout(r, 50)));

  const livez = await fetch(`${sidecar.url}/livez`);
  const livezBody = await livez.text();
  if (livez.status !== 200 || JSON.parse(livezBody).status !== 'pass') {
    failures.push(`/livez answered ${livez.status} ${livezBody}`);
  }
  const summary = await (await fetch(`${sidecar.url}/api/system/performance`)).json();
  const op = summary.operations?.smoke_check;
  if (op?.count !== 1 || op?.breaches !== 1) {
    failures.push(`summary has ${JSON.stringify(op)} for smoke_check; expected count 1 and breaches 1`);
  }
  const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
  if (!/^perf_target_breaches_total\{[^}]*perf_operation="smoke_check"[^}]*\} 1$/m.test(metrics)) {
    failures.push('/metrics has no perf_target_breaches_total 1 for smoke_check');
  }
  const alerts = await (await fetch(`${sidecar.url}/api/system/alerts`)).json();
  if (!alerts.alerts?.some((a) => a.type === 'target_exceeded' && a.labels?.operation === 'smoke_check')) {
    failures.push(`no target_exceeded alert for smoke_check in ${JSON.stringify(alerts).slice(0, 300)}`);
  }
} catch (error) {
  failures.push(`error: ${error instanceof Error ? error.stack : String(error)}`);
} finally {
  await sidecar.close();
}
if (failures.length > 0) {
  process.stderr.write(`smoke app on Node ${process.version} FAILED:\n- ${failures.join('\n- ')}\n`);
  process.exit(1);
}
process.stdout.write(
  `smoke app on Node ${process.version}: /livez pass, smoke_check recorded (summary, /metrics, alert)\n`,
);
process.exit(0);
