import { describe, expect, it } from 'vitest';
import { UNKNOWN_SERVICE } from '../../src/ingest/attributes.ts';
import { otlpTypes } from '../../src/ingest/proto.ts';
import { MAX_INSTANCE_ID_LENGTH, RuntimeMetricMapper } from '../../src/ingest/runtime-metrics.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import type { RuntimeSample } from '../../src/telemetry/runtime-sample.ts';
import { ServiceRegistry } from '../../src/telemetry/services.ts';

/** A sink that keeps what it is given. */
function collectingSink(): {
  record(service: string, sample: RuntimeSample): void;
  samples: [string, RuntimeSample][];
} {
  const samples: [string, RuntimeSample][] = [];
  return { samples, record: (service, sample) => samples.push([service, sample]) };
}

interface Point {
  readonly value: number;
  /** Sent as asInt rather than asDouble. */
  readonly int?: boolean;
  readonly attributes?: Readonly<Record<string, string>>;
  /** Point time and start time, whole seconds since the epoch. */
  readonly at?: number;
  readonly start?: number;
}

const nanos = (seconds: number) => `${seconds}000000000`;

function points(list: readonly Point[]) {
  return list.map((p) => ({
    ...(p.int ? { asInt: p.value } : { asDouble: p.value }),
    timeUnixNano: nanos(p.at ?? 1_700_000_000),
    startTimeUnixNano: nanos(p.start ?? 1_699_999_000),
    attributes: Object.entries(p.attributes ?? {}).map(([key, value]) => ({
      key,
      value: { stringValue: value },
    })),
  }));
}

const gauge = (name: string, unit: string, list: readonly Point[]) => ({
  name,
  unit,
  gauge: { dataPoints: points(list) },
});
const counter = (name: string, unit: string, list: readonly Point[], delta = false) => ({
  name,
  unit,
  sum: { dataPoints: points(list), aggregationTemporality: delta ? 1 : 2, isMonotonic: true },
});

interface Resource {
  readonly service?: string;
  readonly instance?: string;
  readonly metrics: readonly object[];
}

/** A request built from `resources`, encoded and decoded again as a receiver decodes it. */
function request(...resources: Resource[]): object {
  const { metricsRequest } = otlpTypes();
  const object = {
    resourceMetrics: resources.map((r) => ({
      resource: {
        attributes: [
          ...(r.service === undefined ? [] : [{ key: 'service.name', value: { stringValue: r.service } }]),
          ...(r.instance === undefined
            ? []
            : [{ key: 'service.instance.id', value: { stringValue: r.instance } }]),
        ],
      },
      scopeMetrics: [{ scope: { name: 'runtime' }, metrics: r.metrics }],
    })),
  };
  return metricsRequest.decode(metricsRequest.encode(metricsRequest.fromObject(object)).finish());
}

describe('RuntimeMetricMapper', () => {
  it('reads a Node.js service: heap summed over spaces, RSS, event-loop delay (ms to s) and utilisation', () => {
    const sink = collectingSink();
    const counts = new RuntimeMetricMapper({ sink }).map(
      request({
        service: 'checkout',
        metrics: [
          gauge('v8js.memory.heap.used', 'By', [
            { value: 30_000_000, int: true, attributes: { 'v8js.heap.space.name': 'old_space' } },
            { value: 2_000_000, int: true, attributes: { 'v8js.heap.space.name': 'new_space' } },
          ]),
          gauge('process.memory.usage', 'By', [{ value: 120_000_000, int: true }]),
          gauge('nodejs.eventloop.delay.p99', 'ms', [{ value: 25 }]),
          gauge('nodejs.eventloop.utilization', '1', [{ value: 0.4 }]),
          gauge('http.server.active_requests', '{request}', [{ value: 3 }]),
          { name: 'http.server.request.duration', unit: 's', histogram: { dataPoints: [{ count: 2 }] } },
        ],
      }),
    );
    expect(sink.samples).toEqual([
      [
        'checkout',
        {
          at: 1_700_000_000_000,
          heapUsedBytes: 32_000_000,
          rssBytes: 120_000_000,
          eventLoopDelayP99Seconds: 0.025,
          eventLoopUtilization: 0.4,
        },
      ],
    ]);
    expect(counts).toEqual({ services: 1, used: 5, ignored: 2, notRuntime: 2 });
  });

  it('reads a JVM: heap pools only, and the recent utilisation times the CPU count', () => {
    const sink = collectingSink();
    const counts = new RuntimeMetricMapper({ sink }).map(
      request({
        service: 'orders-java',
        metrics: [
          gauge('jvm.memory.used', 'By', [
            {
              value: 100,
              int: true,
              attributes: { 'jvm.memory.type': 'heap', 'jvm.memory.pool.name': 'G1 Eden' },
            },
            {
              value: 50,
              int: true,
              attributes: { 'jvm.memory.type': 'heap', 'jvm.memory.pool.name': 'G1 Old' },
            },
            {
              value: 999,
              int: true,
              attributes: { 'jvm.memory.type': 'non_heap', 'jvm.memory.pool.name': 'Metaspace' },
            },
          ]),
          gauge('jvm.cpu.recent_utilization', '1', [{ value: 0.25 }]),
          gauge('jvm.cpu.count', '{cpu}', [{ value: 4, int: true }]),
        ],
      }),
    );
    expect(sink.samples[0]?.[1]).toEqual({ at: 1_700_000_000_000, heapUsedBytes: 150, cpuCores: 1 });
    expect(counts).toEqual({ services: 1, used: 4, ignored: 1, notRuntime: 0 });
  });

  it('takes a share of all CPUs as cores when no CPU count is sent', () => {
    const sink = collectingSink();
    new RuntimeMetricMapper({ sink }).map(
      request({ service: 'py', metrics: [gauge('process.cpu.utilization', '1', [{ value: 0.3 }])] }),
    );
    expect(sink.samples[0]?.[1].cpuCores).toBe(0.3);
  });

  it('turns a cumulative CPU-time counter into cores between two requests of the same instance', () => {
    const sink = collectingSink();
    const mapper = new RuntimeMetricMapper({ sink });
    const cpu = (user: number, system: number, at: number, start = 1_699_999_000) =>
      counter('process.cpu.time', 's', [
        { value: user, at, start, attributes: { 'cpu.mode': 'user' } },
        { value: system, at, start, attributes: { 'cpu.mode': 'system' } },
      ]);
    const util = gauge('process.cpu.utilization', '1', [{ value: 0.1 }]);
    const send = (metrics: object[], instance = 'a') => {
      mapper.map(request({ service: 'checkout', instance, metrics }));
      return sink.samples.at(-1)?.[1].cpuCores;
    };
    // First request: no rate yet, the utilisation gauge stands in.
    expect(send([cpu(3, 2, 1000), util])).toBe(0.1);
    // 5 CPU seconds more over 10 s: half a core, preferred to the gauge.
    expect(send([cpu(6, 4, 1010), util])).toBe(0.5);
    // Another instance of the same service has its own counter.
    expect(send([cpu(100, 0, 1012), util], 'b')).toBe(0.1);
    expect(send([cpu(8, 7, 1020), util])).toBe(0.5);
    // A restart (new start time) starts over.
    expect(send([cpu(1, 0, 1030, 1_029), util])).toBe(0.1);
    expect(send([cpu(3, 0, 1034, 1_029)])).toBe(0.5);
  });

  it('reads a delta CPU-time counter over its own interval', () => {
    const sink = collectingSink();
    new RuntimeMetricMapper({ sink }).map(
      request({
        service: 'dotnet',
        metrics: [
          counter(
            'dotnet.process.cpu.time',
            's',
            [{ value: 2, at: 1004, start: 1000, attributes: { 'cpu.mode': 'user' } }],
            true,
          ),
          gauge('dotnet.process.memory.working_set', 'By', [{ value: 64, int: true }]),
          gauge('dotnet.gc.last_collection.heap.size', 'By', [
            { value: 10, int: true, attributes: { 'dotnet.gc.heap.generation': 'gen0' } },
            { value: 20, int: true, attributes: { 'dotnet.gc.heap.generation': 'gen2' } },
          ]),
        ],
      }),
    );
    expect(sink.samples[0]?.[1]).toEqual({
      at: 1_700_000_000_000,
      cpuCores: 0.5,
      rssBytes: 64,
      heapUsedBytes: 30,
    });
  });

  it('reads Python (rss points only, cores as psutil gives them) and Go (heap_alloc first)', () => {
    const sink = collectingSink();
    new RuntimeMetricMapper({ sink }).map(
      request(
        {
          service: 'py',
          metrics: [
            gauge('process.runtime.cpython.memory', 'By', [
              { value: 80, int: true, attributes: { type: 'rss' } },
              { value: 900, int: true, attributes: { type: 'vms' } },
            ]),
            gauge('process.runtime.cpython.cpu.utilization', '1', [{ value: 1.5 }]),
          ],
        },
        {
          service: 'go',
          metrics: [
            gauge('go.memory.used', 'By', [
              { value: 700, int: true, attributes: { 'go.memory.type': 'other' } },
            ]),
            gauge('process.runtime.go.mem.heap_alloc', 'By', [{ value: 400, int: true }]),
          ],
        },
      ),
    );
    expect(Object.fromEntries(sink.samples)).toEqual({
      py: { at: 1_700_000_000_000, rssBytes: 80, cpuCores: 1.5 },
      go: { at: 1_700_000_000_000, heapUsedBytes: 400 },
    });
  });

  it('converts units, and ignores metrics in a unit it does not know or with bad values', () => {
    const sink = collectingSink();
    const counts = new RuntimeMetricMapper({ sink }).map(
      request({
        service: 'units',
        metrics: [
          gauge('process.memory.usage', 'MB', [{ value: 1 }]),
          gauge('v8js.memory.heap.used', 'KiBy', [{ value: 2 }]),
          gauge('nodejs.eventloop.utilization', '%', [{ value: 40 }]),
          gauge('nodejs.eventloop.delay.p99', 's', [{ value: -1 }, { value: Number.NaN }]),
        ],
      }),
    );
    expect(sink.samples[0]?.[1]).toEqual({
      at: 1_700_000_000_000,
      heapUsedBytes: 2048,
      eventLoopUtilization: 0.4,
    });
    expect(counts).toEqual({ services: 1, used: 2, ignored: 3, notRuntime: 0 });
  });

  it('records per service: unknown_service without a name, nothing for a bad name or no figure', () => {
    const sink = collectingSink();
    const rss = gauge('process.memory.usage', 'By', [{ value: 1, int: true }]);
    const counts = new RuntimeMetricMapper({ sink }).map(
      request(
        { service: 'a', metrics: [rss] },
        { metrics: [rss] },
        { service: 'bad\nname', metrics: [rss] },
        { service: 'quiet', metrics: [gauge('queue.depth', '{item}', [{ value: 3 }])] },
        { service: 'b', metrics: [rss] },
      ),
    );
    expect(sink.samples.map(([service]) => service)).toEqual(['a', UNKNOWN_SERVICE, 'b']);
    expect(counts).toEqual({ services: 3, used: 3, ignored: 2, notRuntime: 1 });
  });

  it('forgets the least recently seen CPU counter past maxSeries', () => {
    const sink = collectingSink();
    const mapper = new RuntimeMetricMapper({ sink, maxSeries: 1 });
    const cpu = (value: number, at: number) => counter('process.cpu.time', 's', [{ value, at }]);
    const send = (instance: string, value: number, at: number) => {
      mapper.map(
        request({
          service: 's',
          instance,
          metrics: [cpu(value, at), gauge('process.memory.usage', 'By', [{ value: 1 }])],
        }),
      );
      return sink.samples.at(-1)?.[1].cpuCores;
    };
    expect(send('a', 1, 1000)).toBeUndefined();
    expect(send('b', 1, 1000)).toBeUndefined();
    // a's counter was forgotten to make room for b's: no rate for a.
    expect(send('a', 2, 1010)).toBeUndefined();
    expect(send('a', 3, 1020)).toBe(0.1);
  });

  it('ignores points timed more than an hour ahead: one broken clock cannot freeze the figures', () => {
    const services = new ServiceRegistry({ ownService: 'sidecar', maxServices: 10 });
    const mapper = new RuntimeMetricMapper({ sink: services });
    const nowSeconds = Math.floor(Date.now() / 1000);
    const rss = (value: number, at: number) =>
      request({ service: 'checkout', metrics: [gauge('process.memory.usage', 'By', [{ value, at }])] });
    const tenYears = 10 * 365 * 24 * 3600;
    expect(mapper.map(rss(999, nowSeconds + tenYears))).toEqual({
      services: 0,
      used: 0,
      ignored: 1,
      notRuntime: 0,
    });
    expect(services.runtimeOf('checkout')).toBeUndefined();
    expect(mapper.map(rss(100, nowSeconds))).toEqual({ services: 1, used: 1, ignored: 0, notRuntime: 0 });
    expect(services.runtimeOf('checkout')).toEqual({ at: nowSeconds * 1000, rssBytes: 100 });
    // Within the hour of clock skew allowed for spans, a point is read.
    mapper.map(rss(200, nowSeconds + 1800));
    expect(services.runtimeOf('checkout')).toEqual({ at: (nowSeconds + 1800) * 1000, rssBytes: 200 });
  });

  it('remembers no CPU counter of an instance id over the length limit (counted as ignored)', () => {
    const sink = collectingSink();
    const mapper = new RuntimeMetricMapper({ sink });
    const send = (instance: string, value: number, at: number) => {
      const counts = mapper.map(
        request({
          service: 's',
          instance,
          metrics: [
            counter('process.cpu.time', 's', [{ value, at }]),
            gauge('process.memory.usage', 'By', [{ value: 1, at }]),
          ],
        }),
      );
      return { counts, cores: sink.samples.at(-1)?.[1].cpuCores };
    };
    const longest = 'i'.repeat(MAX_INSTANCE_ID_LENGTH);
    const over = 'o'.repeat(MAX_INSTANCE_ID_LENGTH + 1);
    expect(send(longest, 1, 1000)).toEqual({
      counts: { services: 1, used: 2, ignored: 0, notRuntime: 0 },
      cores: undefined,
    });
    expect(send(longest, 2, 1010).cores).toBe(0.1);
    expect(send(over, 1, 1000)).toEqual({
      counts: { services: 1, used: 1, ignored: 1, notRuntime: 0 },
      cores: undefined,
    });
    expect(send(over, 2, 1010)).toEqual({
      counts: { services: 1, used: 1, ignored: 1, notRuntime: 0 },
      cores: undefined,
    });
    // A delta counter needs nothing remembered: it is read whatever the id.
    mapper.map(
      request({
        service: 's',
        instance: over,
        metrics: [counter('process.cpu.time', 's', [{ value: 2, at: 1020, start: 1010 }], true)],
      }),
    );
    expect(sink.samples.at(-1)?.[1].cpuCores).toBe(0.2);
  });

  it('refuses bad options', () => {
    expect(() => new RuntimeMetricMapper({ sink: {} as never })).toThrow(InvalidArgumentError);
    expect(() => new RuntimeMetricMapper({ sink: collectingSink(), maxSeries: 0 })).toThrow(
      /options\.maxSeries/,
    );
  });
});
