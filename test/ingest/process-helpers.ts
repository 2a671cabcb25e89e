/**
 * Helpers of the tests that feed a sidecar process (started as `npm start` starts it) over OTLP:
 * its OTLP endpoints from the start-up line, its memory as the kernel counts it, and the runs per
 * operation its summary reports for a service.
 */
import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { getJson, type SidecarProcess } from '../helpers/sidecar.ts';

/** The OTLP endpoints a sidecar process named in its start-up line. */
export interface OtlpEndpoints {
  /** OTLP/HTTP base URL (POST `${http}/v1/traces`). */
  readonly http: string;
  /** OTLP/gRPC `host:port`. */
  readonly grpc: string;
}

/** Reads the OTLP endpoints from the start-up line (`endpoints.otlpHttp`, `endpoints.otlpGrpc`). */
export function otlpEndpoints(sidecar: SidecarProcess): OtlpEndpoints {
  const line =
    sidecar
      .stdout()
      .split('\n')
      .find((l) => l.includes('"otlpHttp"')) ?? '';
  const { endpoints } = JSON.parse(line) as { endpoints: { otlpHttp: string; otlpGrpc: string } };
  return {
    http: endpoints.otlpHttp.replace(/\/v1\/traces$/, ''),
    grpc: endpoints.otlpGrpc.replace(/^grpc:\/\//, ''),
  };
}

/** A process's memory as Linux counts it, bytes. */
export interface ProcessMemory {
  /** Resident now (`VmRSS`). */
  readonly rss: number;
  /** The most it has been resident since it started (`VmHWM`, the high-water mark). */
  readonly peak: number;
}

/**
 * Reads `/proc/<pid>/status`. The peak matters more than the figure now: memory taken for a
 * moment (a body expanded whole, then freed) is gone from `VmRSS` by the time a test looks, but
 * stays in `VmHWM`.
 */
export function processMemory(pid: number | undefined): ProcessMemory {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (!match) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(match[1]) * 1024;
  };
  return { rss: kib('VmRSS'), peak: kib('VmHWM') };
}

/** One operation of the summary. */
export interface OperationRow {
  readonly count: number;
  readonly breaches: number;
  readonly target_s: number | null;
}

/** The operations the summary reports for `service` over the last hour. */
export async function operationsOf(url: string, service: string): Promise<Record<string, OperationRow>> {
  const { status, body } = await getJson<{ operations: Record<string, OperationRow> }>(
    url,
    `/api/system/performance?service=${encodeURIComponent(service)}&hours=1`,
  );
  expect(status).toBe(200);
  return body.operations;
}

/** Runs of every operation of `service` together. */
export async function runsOf(url: string, service: string): Promise<number> {
  return Object.values(await operationsOf(url, service)).reduce((n, o) => n + o.count, 0);
}
