/**
 * Rules reloaded while spans arrive, end to end: a sidecar process (as `npm start` starts it)
 * receives a steady stream of spans from the official OTLP/HTTP protobuf exporter while its rules
 * file is replaced twice, once noticed by its watch on the file and once with SIGHUP. Each version
 * of the file reports the stream's spans under its own operation (`op-v1`, `op-v2`, `op-v3`) with
 * its own target, so the summary tells which rule judged each span. Every span the receiver
 * accepted is judged exactly once, by one version or another (the runs of the three operations add
 * up to the spans accepted: none lost, none counted twice), and spans sent once a reload is logged
 * are judged by the new rules only.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SidecarProcess, startSidecarProcess } from '../helpers/sidecar.ts';
import { waitFor } from '../helpers/wait.ts';
import { operationsOf, otlpEndpoints, runsOf } from './process-helpers.ts';

const SPAN_NAME = 'reload-work';
const BATCH = 50;

/** Version `v` of the rules file: the stream's spans under `op-v<v>`, with a target of `v` seconds. */
const rules = (v: number) => `
rules:
  - match: { span.name: ${SPAN_NAME} }
    target_seconds: ${v}
    operation: op-v${v}
`;

/** Spans recorded by an SDK tracer provider, to be exported by hand (the export result is the receiver's answer). */
class SpanSource {
  readonly #memory = new InMemorySpanExporter();
  readonly #providers = new Map<string, TracerProvider>();

  /** `count` ended spans named {@link SPAN_NAME} of `service`. */
  async batch(service: string, count: number): Promise<ReadableSpan[]> {
    let provider = this.#providers.get(service);
    if (!provider) {
      provider = new TracerProvider({
        resource: resourceFromAttributes({ 'service.name': service }),
        spanProcessors: [new SimpleSpanProcessor({ exporter: this.#memory })],
      });
      this.#providers.set(service, provider);
    }
    const tracer = provider.getTracer('rules-reload-test');
    for (let i = 0; i < count; i++) tracer.startSpan(SPAN_NAME).end();
    await provider.forceFlush();
    const spans = this.#memory.getFinishedSpans();
    this.#memory.reset();
    return spans;
  }

  async shutdown(): Promise<void> {
    await Promise.all([...this.#providers.values()].map((p) => p.shutdown()));
  }
}

describe('rules reloaded while spans arrive, in a sidecar process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perf-rules-reload-'));
  const rulesFile = join(dir, 'rules.yaml');
  const source = new SpanSource();
  let sidecar: SidecarProcess;
  let exporter: OTLPTraceExporter;

  /** Replaces the rules file the way editors save: a new file renamed over the old one. */
  const replaceRules = (v: number) => {
    const next = join(dir, `.rules-${randomUUID()}.yaml`);
    writeFileSync(next, rules(v));
    renameSync(next, rulesFile);
  };
  const logLines = (message: string) =>
    sidecar
      .stdout()
      .split('\n')
      .filter((line) => line.includes(`"msg":"${message}"`)).length;
  /** Exports `spans`; resolves whether the receiver took them (the exporter retries a 429 itself). */
  const send = (spans: ReadableSpan[]) =>
    new Promise<boolean>((resolve) =>
      exporter.export(spans, (result) => resolve(result.code === ExportResultCode.SUCCESS)),
    );

  beforeAll(async () => {
    writeFileSync(rulesFile, rules(1));
    sidecar = await startSidecarProcess(
      { server: true },
      { REDIS_URL: '', LOG_LEVEL: 'info', PERF_RULES_FILE: rulesFile },
    );
    exporter = new OTLPTraceExporter({ url: `${otlpEndpoints(sidecar).http}/v1/traces` });
  }, 60_000);

  afterAll(async () => {
    await exporter?.shutdown();
    await source.shutdown();
    await sidecar?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('judges every accepted span exactly once, by the old rules or the new, and new spans by the new', async () => {
    let streaming = true;
    let accepted = 0;
    let failed = 0;
    const stream = (async () => {
      while (streaming) {
        if (await send(await source.batch('stream-svc', BATCH))) accepted += BATCH;
        else failed += BATCH;
      }
    })();

    /** Sends a batch of `service` once the reload to `v` is logged: all of it must be judged by `v`. */
    const checkAfterReload = async (service: string, v: number) => {
      expect(await send(await source.batch(service, BATCH))).toBe(true);
      await waitFor(async () => (await runsOf(sidecar.url, service)) === BATCH, {
        what: `${service}'s runs`,
      });
      expect(await operationsOf(sidecar.url, service)).toEqual({
        [`op-v${v}`]: expect.objectContaining({ count: BATCH, target_s: v }),
      });
      // And the stream goes on under the new rules too.
      await waitFor(
        async () => ((await operationsOf(sidecar.url, 'stream-svc'))[`op-v${v}`]?.count ?? 0) > 0,
        {
          what: `stream spans judged by version ${v}`,
        },
      );
    };

    try {
      await waitFor(async () => (await runsOf(sidecar.url, 'stream-svc')) > 0, {
        what: 'the stream to flow',
      });
      // Replaced on disk: the sidecar's watch on the file notices.
      const loaded = logLines('target rules loaded');
      replaceRules(2);
      await waitFor(() => logLines('target rules loaded') > loaded, { what: 'the reload of version 2' });
      await checkAfterReload('after-v2', 2);
      // Replaced, and SIGHUP at once, as an operator would send it.
      replaceRules(3);
      sidecar.child.kill('SIGHUP');
      await waitFor(() => logLines('target rules reloaded') > 0, { what: 'the SIGHUP reload' });
      await checkAfterReload('after-v3', 3);
    } finally {
      streaming = false;
      await stream;
    }

    expect(failed).toBe(0);
    // Every span accepted is judged once: the runs add up to the spans accepted, once all are in.
    await waitFor(async () => (await runsOf(sidecar.url, 'stream-svc')) === accepted, {
      what: `${accepted} runs of stream-svc`,
      timeoutMs: 20_000,
    });
    const operations = await operationsOf(sidecar.url, 'stream-svc');
    expect(Object.keys(operations).sort()).toEqual(['op-v1', 'op-v2', 'op-v3']);
    for (const v of [1, 2, 3]) expect(operations[`op-v${v}`]?.target_s).toBe(v);
    // The receiver agrees on what it accepted: the stream and the two checks, nothing else.
    const metrics = await (await fetch(`${sidecar.url}/metrics`)).text();
    const counted = /^perf_ingest_spans_total\{[^}]*perf_ingest_outcome="accepted"[^}]*\} (\d+)/m.exec(
      metrics,
    );
    expect(Number(counted?.[1])).toBe(accepted + 2 * BATCH);
    expect(sidecar.child.exitCode).toBeNull();
  }, 120_000);
});
