import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES, ConfigError, DEFAULT_TARGETS, loadConfig } from '../src/config.ts';
import { redactUrl } from '../src/shared/urls.ts';

function problemsOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(Object.keys(env))}`);
}

describe('loadConfig', () => {
  it('gives the documented defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config.redisUrl).toBeUndefined();
    expect(config.redisCluster).toBe(false);
    expect(config.databaseUrl).toBeUndefined();
    expect(config.db).toEqual({
      poolSize: 20,
      maxOverflow: 30,
      poolTimeoutSeconds: 30,
      poolRecycleSeconds: 3600,
      prePingIdleSeconds: 30,
      slowQuerySeconds: 2,
      explainSlow: false,
    });
    expect(config.monitoringEnabled).toBe(true);
    expect(config.slowRequestThresholdSeconds).toBe(5);
    expect(config.memoryAlertThresholdMb).toBe(500);
    expect(config.cpuAlertThresholdPercent).toBe(80);
    expect(config.targets).toEqual({
      simple_query: 2,
      ai_operation: 30,
      document_ocr: 120,
      layout_generation: 30,
      validation: 5,
    });
    expect(config.alerts).toEqual({
      listMax: 1000,
      repeatSeconds: 60,
      keyPrefix: '',
      bufferMax: 10_000,
      eachBreach: true,
    });
    expect(config.slo).toEqual({
      objective: 0.99,
      periodDays: 30,
      errors: true,
      minRuns: 10,
      burnRate: 'dynamic',
      maxOperations: 2000,
      leaseSeconds: 90,
    });
    expect(config.server).toEqual({ port: 8000, host: '127.0.0.1', shutdownTimeoutMs: 10_000 });
    expect(config.serviceName).toBeUndefined();
    expect(config.otlp).toEqual({
      endpoint: undefined,
      protocol: 'http/protobuf',
      headers: {},
      traces: {
        exporters: [],
        url: undefined,
        protocol: 'http/protobuf',
        batch: {
          scheduledDelayMillis: 5000,
          maxQueueSize: 2048,
          maxExportBatchSize: 512,
          exportTimeoutMillis: 30_000,
        },
      },
      metrics: {
        exporters: [],
        url: undefined,
        protocol: 'http/protobuf',
        intervalMs: 60_000,
        temporality: 'cumulative',
      },
    });
    expect(Object.isFrozen(config.targets)).toBe(true);
  });

  it('reads every variable and merges PERF_TARGETS over the defaults', () => {
    const config = loadConfig({
      REDIS_URL: 'redis://:pw@127.0.0.1:6379/2',
      DATABASE_URL: 'postgresql+asyncpg://app:secret@db.internal:5432/arch',
      DB_POOL_SIZE: '5',
      DB_MAX_OVERFLOW: '0',
      DB_POOL_TIMEOUT: '2.5',
      DB_POOL_RECYCLE: '600',
      DB_PRE_PING_IDLE_SECONDS: '0',
      DB_SLOW_QUERY_SECONDS: '0.25',
      DB_EXPLAIN_SLOW: 'yes',
      ENABLE_PERFORMANCE_MONITORING: 'off',
      SLOW_REQUEST_THRESHOLD: '0.75',
      MEMORY_ALERT_THRESHOLD: '1024',
      CPU_ALERT_THRESHOLD: '150',
      PERF_TARGETS: '{"simple_query":1.5,"export":60}',
      ALERT_LIST_MAX: '50',
      ALERT_REPEAT_SECONDS: '0',
      ALERT_KEY_PREFIX: 'app:',
      ALERT_BUFFER_MAX: '7',
      PERF_ALERT_EACH_BREACH: 'false',
      PERF_SLO_OBJECTIVE: '0.995',
      PERF_SLO_PERIOD_DAYS: '7',
      PERF_SLO_ERRORS: 'no',
      PERF_SLO_MIN_RUNS: '50',
      PERF_SLO_BURN_RATE: 'STATIC',
      PERF_SLO_MAX_OPERATIONS: '10',
      PERF_SLO_LEASE_SECONDS: '120',
      PORT: '0',
      HOST: '::1',
      SHUTDOWN_TIMEOUT_MS: '2500',
      OTEL_SERVICE_NAME: 'arch-ai',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    });
    expect(config.databaseUrl).toBe('postgresql://app:secret@db.internal:5432/arch');
    expect(config.db).toEqual({
      poolSize: 5,
      maxOverflow: 0,
      poolTimeoutSeconds: 2.5,
      poolRecycleSeconds: 600,
      prePingIdleSeconds: 0,
      slowQuerySeconds: 0.25,
      explainSlow: true,
    });
    expect(config.monitoringEnabled).toBe(false);
    expect(config.targets).toEqual({ ...DEFAULT_TARGETS, simple_query: 1.5, export: 60 });
    expect(config.alerts).toEqual({
      listMax: 50,
      repeatSeconds: 0,
      keyPrefix: 'app:',
      bufferMax: 7,
      eachBreach: false,
    });
    expect(config.slo).toEqual({
      objective: 0.995,
      periodDays: 7,
      errors: false,
      minRuns: 50,
      burnRate: 'static',
      maxOperations: 10,
      leaseSeconds: 120,
    });
    expect(config.server).toEqual({ port: 0, host: '::1', shutdownTimeoutMs: 2500 });
    expect(config.otlp).toEqual({
      endpoint: 'http://collector:4318',
      protocol: 'http/json',
      headers: {},
      traces: expect.objectContaining({
        exporters: ['otlp'],
        url: 'http://collector:4318/v1/traces',
        protocol: 'http/json',
      }),
      metrics: {
        exporters: [],
        url: 'http://collector:4318/v1/metrics',
        protocol: 'http/json',
        intervalMs: 60_000,
        temporality: 'cumulative',
      },
    });
  });

  it.each([
    ['DB_POOL_SIZE', 'abc', /DB_POOL_SIZE: "abc" is not a whole number; expected an integer from 1 to 1000/],
    ['DB_POOL_SIZE', '0', /DB_POOL_SIZE: "0" is below 1; expected an integer from 1 to 1000/],
    ['DB_MAX_OVERFLOW', '-1', /DB_MAX_OVERFLOW: "-1" is below 0/],
    ['DB_POOL_TIMEOUT', '0', /DB_POOL_TIMEOUT: "0" must be greater than 0/],
    ['DB_POOL_TIMEOUT', 'Infinity', /DB_POOL_TIMEOUT: "Infinity" is not a number/],
    ['DB_POOL_RECYCLE', '1.5', /DB_POOL_RECYCLE: "1.5" is not a whole number/],
    [
      'DB_PRE_PING_IDLE_SECONDS',
      '-1',
      /DB_PRE_PING_IDLE_SECONDS: "-1" is below 0; expected an integer number of seconds/,
    ],
    [
      'DB_SLOW_QUERY_SECONDS',
      '0',
      /DB_SLOW_QUERY_SECONDS: "0" must be greater than 0; expected a number of seconds/,
    ],
    [
      'DB_EXPLAIN_SLOW',
      'sometimes',
      /DB_EXPLAIN_SLOW: "sometimes" is not a boolean word; expected true\/false/,
    ],
    [
      'ENABLE_PERFORMANCE_MONITORING',
      'maybe',
      /ENABLE_PERFORMANCE_MONITORING: "maybe" is not a boolean word; expected true\/false/,
    ],
    ['SLOW_REQUEST_THRESHOLD', 'fast', /SLOW_REQUEST_THRESHOLD: "fast" is not a number/],
    ['MEMORY_ALERT_THRESHOLD', '-5', /MEMORY_ALERT_THRESHOLD: "-5" must be greater than 0/],
    ['CPU_ALERT_THRESHOLD', '1e9', /CPU_ALERT_THRESHOLD: "1e9" is above 10000/],
    ['PERF_TARGETS', '{oops', /PERF_TARGETS: "\{oops" is not valid JSON; expected a JSON object/],
    ['PERF_TARGETS', '[1,2]', /PERF_TARGETS: "\[1,2\]" is JSON but not an object/],
    ['PERF_TARGETS', '{"x":-1}', /gives "x" the target -1, not a number of seconds/],
    ['PERF_TARGETS', '{"bad\\nname":1}', /has a name that contains control characters/],
    ['ALERT_LIST_MAX', '0', /ALERT_LIST_MAX: "0" is below 1/],
    ['ALERT_REPEAT_SECONDS', 'soon', /ALERT_REPEAT_SECONDS: "soon" is not a whole number/],
    ['ALERT_KEY_PREFIX', 'a b', /ALERT_KEY_PREFIX: "a b" has characters other than/],
    ['ALERT_BUFFER_MAX', '99999999999', /ALERT_BUFFER_MAX: "99999999999" is above 1000000/],
    ['PERF_SLO_OBJECTIVE', '1', /PERF_SLO_OBJECTIVE: "1" .*expected a number between 0 and 1, both excluded/],
    ['PERF_SLO_OBJECTIVE', '0', /PERF_SLO_OBJECTIVE: "0" .*expected a number between 0 and 1, both excluded/],
    ['PERF_SLO_PERIOD_DAYS', '91', /PERF_SLO_PERIOD_DAYS: "91" is above 90/],
    [
      'PERF_SLO_BURN_RATE',
      'fast',
      /PERF_SLO_BURN_RATE: "fast" is not one of the accepted values; expected dynamic \| static/,
    ],
    ['PORT', '70000', /PORT: "70000" is above 65535/],
    ['HOST', 'local host', /HOST: "local host" is not a host name or IP address/],
    ['OTEL_SERVICE_NAME', 'x'.repeat(200), /OTEL_SERVICE_NAME: "x{64}…" is not 1 to 128/],
    [
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      'carrier-pigeon',
      /OTEL_EXPORTER_OTLP_PROTOCOL: "carrier-pigeon" is not one of the accepted values; expected http\/protobuf \| http\/json \| grpc/,
    ],
    ['LOG_LEVEL', 'loud', /LOG_LEVEL: "loud" is not one of the accepted values/],
    [
      'OTEL_TRACES_EXPORTER',
      'jaeger',
      /OTEL_TRACES_EXPORTER: "jaeger" names "jaeger", not an accepted value/,
    ],
    ['OTEL_TRACES_EXPORTER', 'otlp,none', /OTEL_TRACES_EXPORTER: "otlp,none" combines none with other names/],
    ['OTEL_METRICS_EXPORTER', 'statsd', /OTEL_METRICS_EXPORTER: "statsd" names "statsd"/],
    ['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL', 'udp', /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "udp" is not one of/],
    ['OTEL_METRIC_EXPORT_INTERVAL', '10', /OTEL_METRIC_EXPORT_INTERVAL: "10" is below 100/],
    ['OTEL_BSP_MAX_QUEUE_SIZE', '0', /OTEL_BSP_MAX_QUEUE_SIZE: "0" is below 1/],
    ['OTEL_BSP_SCHEDULE_DELAY', 'soon', /OTEL_BSP_SCHEDULE_DELAY: "soon" is not a whole number/],
    [
      'OTEL_TRACES_SAMPLER',
      'jaeger_remote',
      /OTEL_TRACES_SAMPLER: "jaeger_remote" is not one of the accepted values; expected always_on \| always_off/,
    ],
    [
      'OTEL_TRACES_SAMPLER_ARG',
      '1.5',
      /OTEL_TRACES_SAMPLER_ARG: "1.5" is above 1; expected a number from 0 to 1/,
    ],
    ['OTEL_PROPAGATORS', 'xray', /OTEL_PROPAGATORS: "xray" names "xray", not an accepted value/],
    [
      'OTEL_LOG_LEVEL',
      'loud',
      /OTEL_LOG_LEVEL: "loud" is not one of the accepted values; expected none \| error/,
    ],
    ['OTEL_SDK_DISABLED', 'perhaps', /OTEL_SDK_DISABLED: "perhaps" is not a boolean word/],
    [
      'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE',
      'sometimes',
      /OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: "sometimes" is not one of the accepted values; expected cumulative \| delta \| lowmemory/,
    ],
    ['OTEL_SPAN_EVENT_COUNT_LIMIT', '-1', /OTEL_SPAN_EVENT_COUNT_LIMIT: "-1" is below 0/],
  ])(
    '%s=%j gives a message naming the variable, the problem and the expected form',
    (name, value, pattern) => {
      const error = problemsOf({ [name]: value });
      expect(error.code).toBe('PERF_CONFIG_INVALID');
      expect(error.message).toMatch(pattern);
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]?.variable).toBe(name);
    },
  );

  it('resolves the OTLP signals: signal endpoints as is, exporters, protocols and headers', () => {
    const alone = loadConfig({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4318/custom' }).otlp;
    expect(alone.traces).toMatchObject({
      exporters: ['otlp'],
      url: 'http://t:4318/custom',
      protocol: 'http/protobuf',
    });
    const off = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_TRACES_EXPORTER: 'none',
    }).otlp;
    expect(off.traces.exporters).toEqual([]);
    const batch = loadConfig({
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_BSP_MAX_QUEUE_SIZE: '10',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '50',
      OTEL_BSP_EXPORT_TIMEOUT: '2000',
    }).otlp.traces.batch;
    // A batch larger than the queue is capped to it (the SDK requires batch <= queue).
    expect(batch).toEqual({
      scheduledDelayMillis: 100,
      maxQueueSize: 10,
      maxExportBatchSize: 10,
      exportTimeoutMillis: 2000,
    });
    const grpc = loadConfig({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317/',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
      OTEL_METRICS_EXPORTER: 'prometheus,otlp',
      OTEL_EXPORTER_OTLP_HEADERS: 'api-key=a%3Db, x-team = core',
    }).otlp;
    expect(grpc.traces).toMatchObject({ exporters: ['otlp'], url: 'http://c:4317/', protocol: 'grpc' });
    expect(grpc.metrics).toEqual({
      exporters: ['otlp'],
      url: 'http://c:4317/v1/metrics',
      protocol: 'http/json',
      intervalMs: 60_000,
      temporality: 'cumulative',
    });
    expect(grpc.headers).toEqual({ 'api-key': 'a=b', 'x-team': 'core' });
  });

  it("reads the OpenTelemetry SDK's own variables: sampler, propagators, diagnostics, span limits", () => {
    expect(loadConfig({}).sdk).toEqual({
      disabled: false,
      logLevel: undefined,
      propagators: ['tracecontext', 'baggage'],
      sampler: 'parentbased_always_on',
      samplerRatio: 1,
      spanLimits: {},
    });
    const sdk = loadConfig({
      OTEL_SDK_DISABLED: 'true',
      OTEL_LOG_LEVEL: 'DEBUG',
      OTEL_PROPAGATORS: 'b3multi, tracecontext',
      OTEL_TRACES_SAMPLER: 'traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
      OTEL_ATTRIBUTE_COUNT_LIMIT: '64',
      OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '16',
      OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT: '200',
      OTEL_SPAN_LINK_COUNT_LIMIT: '4',
    }).sdk;
    expect(sdk).toEqual({
      disabled: true,
      logLevel: 'debug',
      propagators: ['b3multi', 'tracecontext'],
      sampler: 'traceidratio',
      samplerRatio: 0.25,
      // The span-specific variable wins over the general one, which still covers events and links.
      spanLimits: {
        attributeCountLimit: 16,
        attributeValueLengthLimit: 200,
        linkCountLimit: 4,
        attributePerEventCountLimit: 64,
        attributePerLinkCountLimit: 64,
      },
    });
    expect(loadConfig({ OTEL_PROPAGATORS: 'none' }).sdk.propagators).toEqual(['none']);
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: 'Delta' }).otlp.metrics.temporality,
    ).toBe('delta');
  });

  it('reads the forwarding queue bound in bytes, within 1 MiB and 16 GiB', () => {
    expect(loadConfig({}).ingest.forward.queueBytes).toBe(64 * 1024 * 1024);
    expect(loadConfig({ OTLP_FORWARD_QUEUE_BYTES: '2097152' }).ingest.forward.queueBytes).toBe(2_097_152);
    expect(problemsOf({ OTLP_FORWARD_QUEUE_BYTES: '1000' }).message).toMatch(
      /OTLP_FORWARD_QUEUE_BYTES: "1000" is below 1048576; expected an integer number of bytes from 1048576 to 17179869184/,
    );
  });

  it('accepts header values with spaces inside, and refuses a tab (gRPC metadata cannot carry it) without showing it', () => {
    expect(
      loadConfig({ OTLP_FORWARD_HEADERS: 'authorization=Basic%20abc%20def' }).ingest.forward.headers,
    ).toEqual({ authorization: 'Basic abc def' });
    const error = problemsOf({ OTLP_FORWARD_HEADERS: 'authorization=Basic%20abc%09secret77' });
    expect(error.message).toMatch(
      /OTLP_FORWARD_HEADERS: .*authorization.*visible ASCII characters, with spaces inside/,
    );
    expect(error.message).not.toContain('secret77');
  });

  it('reports every bad variable in one message', () => {
    const error = problemsOf({ DB_POOL_SIZE: 'x', PORT: '-1' });
    expect(error.problems.map((p) => p.variable)).toEqual(['DB_POOL_SIZE', 'PORT']);
    expect(error.message.split('\n')).toHaveLength(3);
  });

  it.each([
    [
      'DATABASE_URL',
      'mysql://root:hunter2secret@db/app',
      /DATABASE_URL: the value has the unsupported scheme "mysql:"; expected postgresql:\/\//,
    ],
    [
      'DATABASE_URL',
      'postgresql://root:hunter2secret@',
      /DATABASE_URL: the value (is not a URL|has no host)/,
    ],
    [
      'DATABASE_URL',
      'not a url hunter2secret',
      /DATABASE_URL: the value is not a URL \(value hidden: it may hold a password\)/,
    ],
    [
      'REDIS_URL',
      'http://:hunter2secret@cache:6379',
      /REDIS_URL: the value has the unsupported scheme "http:"; expected redis:\/\//,
    ],
    ['REDIS_URL', 'hunter2secret', /REDIS_URL: the value is not a URL/],
    [
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'ftp://tok:hunter2secret@x',
      /OTEL_EXPORTER_OTLP_ENDPOINT: the value has the unsupported scheme "ftp:"/,
    ],
    [
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
      'hunter2secret',
      /OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: the value is not a URL/,
    ],
    [
      'OTEL_EXPORTER_OTLP_HEADERS',
      'api key=hunter2secret',
      /OTEL_EXPORTER_OTLP_HEADERS: the value is not a list of up to 64 key=value pairs \(value hidden\)/,
    ],
    [
      'OTEL_EXPORTER_OTLP_HEADERS',
      'api-key=s%C3%A9cret-hunter2secret',
      /OTEL_EXPORTER_OTLP_HEADERS: the value gives "api-key" a value that is not a header value \(value hidden\); expected .*visible ASCII/,
    ],
    [
      'OTLP_FORWARD_HEADERS',
      'x-team=core,x-api-key=sécret-hunter2secret',
      /OTLP_FORWARD_HEADERS: the value gives "x-api-key" a value that is not a header value \(value hidden\)/,
    ],
    [
      'OTLP_FORWARD_HEADERS',
      'x-api-key=hunter2secret%0A',
      /OTLP_FORWARD_HEADERS: the value gives "x-api-key" a value that is not a header value \(value hidden\)/,
    ],
  ])('%s never echoes a password (%s)', (name, value, pattern) => {
    const error = problemsOf({ [name]: value });
    expect(error.message).toMatch(pattern);
    expect(error.message).not.toContain('hunter2secret');
    expect(JSON.stringify(error.problems)).not.toContain('hunter2secret');
  });

  it('reads PERF_JAEGER_URL as an http(s) base URL, trailing slashes removed; unset leaves it out', () => {
    expect(loadConfig({}).jaegerUrl).toBeUndefined();
    expect(loadConfig({ PERF_JAEGER_URL: '' }).jaegerUrl).toBeUndefined();
    expect(loadConfig({ PERF_JAEGER_URL: 'http://127.0.0.1:16686' }).jaegerUrl).toBe(
      'http://127.0.0.1:16686',
    );
    expect(loadConfig({ PERF_JAEGER_URL: ' https://Tracing.example.com/jaeger// ' }).jaegerUrl).toBe(
      'https://tracing.example.com/jaeger',
    );
    expect(loadConfig({ PERF_JAEGER_URL: 'http://jaeger:16686/' }).jaegerUrl).toBe('http://jaeger:16686');
  });

  it.each([
    [
      'ftp://jaeger:16686',
      /\n {2}- PERF_JAEGER_URL: "ftp:\/\/jaeger:16686" has the scheme "ftp:", not http: or https:; expected an http:\/\/ or https:\/\/ base URL/,
    ],
    ['jaeger:16686', /\n {2}- PERF_JAEGER_URL: "jaeger:16686" has the scheme "jaeger:", not http: or https:/],
    ['not a url', /\n {2}- PERF_JAEGER_URL: "not a url" is not a URL; expected an http:\/\/ or https:\/\//],
    ['http://jaeger:16686/?tab=search', /\n {2}- PERF_JAEGER_URL: .* has a query or fragment/],
  ])('refuses PERF_JAEGER_URL=%s, naming the variable and the accepted form', (value, pattern) => {
    const error = problemsOf({ PERF_JAEGER_URL: value });
    expect(error.problems.map((p) => p.variable)).toEqual(['PERF_JAEGER_URL']);
    expect(error.message).toMatch(pattern);
  });

  it.each([
    'http://admin:hunter2secret@jaeger:16686',
    'https://hunter2secret@jaeger:16686',
    'https://user:hunter2secret@/nohost',
  ])('refuses credentials in PERF_JAEGER_URL (%s) without echoing them', (value) => {
    const error = problemsOf({ PERF_JAEGER_URL: value });
    expect(error.problems.map((p) => p.variable)).toEqual(['PERF_JAEGER_URL']);
    expect(error.message).toMatch(/PERF_JAEGER_URL: "https?:\/\/\*\*\*@/);
    expect(error.message).not.toContain('hunter2secret');
    expect(JSON.stringify(error.problems)).not.toContain('hunter2secret');
  });

  it('refuses user:password@ in PERF_JAEGER_URL, saying why', () => {
    expect(problemsOf({ PERF_JAEGER_URL: 'http://admin:pw@jaeger:16686' }).message).toMatch(
      /PERF_JAEGER_URL: "http:\/\/\*\*\*@jaeger:16686" holds a user name or password \(user:password@\), which every reader of its links would see; expected an http:\/\/ or https:\/\/ base URL without user, password, query or fragment/,
    );
  });

  it('documents every variable it reads', () => {
    const names = CONFIG_VARIABLES.map((v) => v.name);
    expect(names).toContain('REDIS_URL');
    expect(names).toContain('ALERT_BUFFER_MAX');
    expect(CONFIG_VARIABLES.every((v) => v.expected.length > 0 && v.description.length > 0)).toBe(true);
  });
});

describe('redactUrl', () => {
  it('hides passwords and keeps the rest', () => {
    expect(redactUrl('postgresql://app:secret@db:5432/x')).toBe('postgresql://app:***@db:5432/x');
    expect(redactUrl('redis://:secret@cache:6379/0')).toBe('redis://:***@cache:6379/0');
    expect(redactUrl('redis://cache:6379')).toBe('redis://cache:6379');
    expect(redactUrl('%%%secret')).toBe('[unparseable URL]');
  });
});
