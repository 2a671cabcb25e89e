/**
 * The ingest's health checks over a real ingest (receivers, evaluator, forwarder) and a stand-in
 * Collector: what an upstream says is shown in `forward:dropped`, bounded, however much it says.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IngestHealth, MAX_ERROR_TEXT } from '../../src/http/ingest-health.ts';
import { type Ingest, startIngest } from '../../src/ingest/index.ts';
import { OtlpProtoReceiver } from '../helpers/otlp-proto-receiver.ts';
import { startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';
import { curl, PROTOBUF, quiet, spans, traceRequest } from '../ingest/helpers.ts';

describe('ingest health with forwarding', () => {
  let upstream: OtlpProtoReceiver;
  let telemetry: TestTelemetry;
  let ingest: Ingest;

  beforeAll(async () => {
    upstream = await OtlpProtoReceiver.start();
    telemetry = await startTestTelemetry({
      REDIS_URL: '',
      OTLP_HTTP_PORT: '0',
      OTLP_GRPC_PORT: '0',
      OTLP_FORWARD_ENDPOINT: upstream.url,
    });
    ingest = await startIngest({ telemetry: telemetry.telemetry, host: '127.0.0.1', logger: quiet });
  });
  afterAll(async () => {
    await ingest?.close();
    await telemetry?.cleanup();
    await upstream?.close();
  });

  it(`shows at most ${MAX_ERROR_TEXT} characters of the last upstream error in forward:dropped`, async () => {
    // An upstream that refuses with a long explanation (the forwarder keeps 200 characters of it,
    // after the URL and the status).
    upstream.failNext(1, { status: 400, body: `refused: ${'why '.repeat(200)}` });
    const res = await curl(`${ingest.httpUrl}/v1/traces`, PROTOBUF, traceRequest('dropped-svc', spans(2)));
    expect(res.status).toBe(200);
    await waitFor(() => ingest.stats().forward?.spansDropped.rejected === 2, { what: 'the drop' });
    const lastError = ingest.stats().forward?.lastError?.message ?? '';
    expect(lastError.length).toBeGreaterThan(MAX_ERROR_TEXT);

    const health = new IngestHealth(ingest, 5);
    const [check] = health.checks(Date.now(), new Date().toISOString())['forward:dropped'] ?? [];
    expect(check).toMatchObject({ status: 'warn', observedValue: 2 });
    const shown = /\(last error: (.*)\)$/.exec(check?.output ?? '')?.[1] ?? '';
    expect(shown.length).toBe(MAX_ERROR_TEXT);
    expect(lastError.startsWith(shown.slice(0, -1))).toBe(true);
    expect(shown.endsWith('…')).toBe(true);
  });
});
