import v8 from 'node:v8';
import { loadConfig } from '../src/config.ts';
import { shutdownTelemetry, startTelemetry, trackOperation } from '../src/telemetry/index.ts';

startTelemetry({ config: loadConfig({ LOG_LEVEL: 'error' }), instrumentations: [] });
await new Promise((r) => setTimeout(r, 200));
function b(name: string, f: () => unknown) {
  for (let i = 0; i < 20000; i++) f();
  const n = 100000;
  const s = performance.now();
  for (let i = 0; i < n; i++) f();
  console.log(name, (((performance.now() - s) * 1e6) / n).toFixed(0), 'ns');
}
for (let r = 0; r < 2; r++) {
  b('heapstats', () => v8.getHeapStatistics());
  b('cpuUsage', () => process.cpuUsage());
  b('track', () => trackOperation('validation', () => 1));
  b('track-nores', () => trackOperation('validation', { measureResources: false }, () => 1));
}
await shutdownTelemetry();
