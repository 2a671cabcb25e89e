/**
 * The preload entry: `node --import perf-sidecar/register app.js`.
 *
 * 1. Installs import-in-the-middle's ESM loader hook, with a message channel so that only the
 *    modules the instrumentations name are wrapped. In perf-sidecar's own server (`npm start`), on
 *    a Node whose `module.registerHooks` can run it (24.11.1, 22.22.3 and later), the hook runs in
 *    the main thread; elsewhere, and in every host application, on Node's loader thread
 *    (`module.register`).
 * 2. Starts telemetry (instrumentations enabled, which sends their module names to the loader),
 *    with the host's identity (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, the host's
 *    package.json, else `unknown_service:node`), or `perf-sidecar` when the main module is
 *    perf-sidecar's own server entry.
 * 3. Waits until the loader has acknowledged those names; only then do the application's imports
 *    run, so its `pg`, `ioredis` and `http` are the instrumented ones.
 *
 * Telemetry is flushed on 'beforeExit'. A program that ends with `process.exit()` or on a signal
 * should `await stopTelemetry()` first (the sidecar server does).
 *
 * An invalid configuration or rules file (`PERF_RULES_FILE`), or `REDIS_URL` without the optional peer `ioredis` installed, stops the
 * process here with exit code 1 and one message on stderr.
 */
import { register } from 'node:module';
import { createAddHookMessageChannel } from 'import-in-the-middle';
import { isSidecarServer } from './shared/entry.ts';

const { registerOptions, addHookMessagePort, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
const ownServer = isSidecarServer(import.meta.url);
// The loader thread is a second V8 isolate that holds about 25 MiB while the process idles (half
// the sidecar's memory above a hand-written app's). In-thread hooks take the same message port
// (the module names the instrumentations send), so the same modules are wrapped. Only for the
// sidecar's own server, whose every module is perf-sidecar's: a host may chain loaders of its own,
// whose order with in-thread hooks has not been tried.
const inThread = ownServer ? await import('import-in-the-middle/register-hooks.mjs') : undefined;
if (inThread?.supportsSyncHooks()) {
  const options = { include: [], addHookMessagePort };
  inThread.register(options);
} else {
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
}

// Imported only now: nothing that loads an instrumented module may run before the hook exists.
const { ConfigError } = await import('./config.ts');
const { MissingPeerError } = await import('./shared/peers.ts');
const { RulesError, stopTelemetry, startTelemetry } = await import('./telemetry/index.ts');
const { SIDECAR_IDENTITY } = await import('./telemetry/internal.ts');

let release: () => void = () => undefined;
const hooksReady = new Promise<void>((resolve) => {
  release = resolve;
});
try {
  // The host's identity is the host's; only perf-sidecar's own server entry is `perf-sidecar`.
  startTelemetry({
    dependenciesReady: hooksReady,
    ...(ownServer ? { service: SIDECAR_IDENTITY } : {}),
  });
} catch (error) {
  if (error instanceof ConfigError || error instanceof MissingPeerError || error instanceof RulesError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
await waitForAllMessagesAcknowledged();
release();

process.once('beforeExit', () => {
  void stopTelemetry();
});
