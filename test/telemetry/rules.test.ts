import { type Attributes, SpanKind } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import {
  EMPTY_RULES,
  MAX_CONDITIONS,
  MAX_RULES,
  MAX_RULES_FILE_BYTES,
  parseRules,
  RulesError,
} from '../../src/telemetry/rules.ts';
import type { SpanView } from '../../src/telemetry/span-view.ts';

const TARGETS = { simple_query: 2, ai_operation: 30 };
const FILE = '/etc/perf/rules.yaml';

function span(over: Partial<SpanView> & { attributes?: Attributes } = {}): SpanView {
  return {
    name: 'GET /orders/:id',
    service: 'checkout',
    kind: SpanKind.SERVER,
    attributes: {},
    durationSeconds: 0.1,
    error: false,
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: 1,
    ...over,
  };
}

const EXAMPLE = `
# Targets of spans that carry no perf.target_seconds.
rules:
  - match: { service.name: checkout, http.route: /orders/:id, http.request.method: GET }
    target_seconds: 0.3
    operation: "GET /orders/:id"
  - match: { rpc.method: GetQuote }
    kind: simple_query
  - match:
      db.operation.name: SELECT
      span.kind: client
    target_seconds: 0.05
  - match: { span.name: nightly-report, retry: false, attempt: 3 }
    kind: ai_operation
`;

function rulesError(text: string): RulesError {
  try {
    parseRules(text, { file: FILE, targets: TARGETS });
  } catch (error) {
    expect(error).toBeInstanceOf(RulesError);
    return error as RulesError;
  }
  throw new Error('parseRules accepted the document');
}

describe('parseRules: matching', () => {
  const rules = parseRules(EXAMPLE, { file: FILE, targets: TARGETS });

  it('compiles every rule', () => {
    expect(rules.size).toBe(4);
  });

  it('matches an HTTP route, with its method and service, and names the operation', () => {
    const attributes = { 'http.route': '/orders/:id', 'http.request.method': 'GET' };
    expect(rules.match(span({ attributes }))).toEqual({ targetSeconds: 0.3, operation: 'GET /orders/:id' });
    // Every condition must hold: another method, another service or a missing route is no match.
    expect(
      rules.match(span({ attributes: { ...attributes, 'http.request.method': 'POST' } })),
    ).toBeUndefined();
    expect(rules.match(span({ service: 'billing', attributes }))).toBeUndefined();
    expect(rules.match(span({ attributes: { 'http.request.method': 'GET' } }))).toBeUndefined();
  });

  it('resolves a kind to its seconds of the target table, and leaves the operation to the span', () => {
    const grpc = span({ service: 'quotes', kind: SpanKind.CLIENT, attributes: { 'rpc.method': 'GetQuote' } });
    expect(rules.match(grpc)).toEqual({ targetSeconds: 2, operation: undefined });
  });

  it('matches a database call by operation and span kind', () => {
    const query = span({
      name: 'SELECT orders',
      kind: SpanKind.CLIENT,
      attributes: { 'db.operation.name': 'SELECT' },
    });
    expect(rules.match(query)?.targetSeconds).toBe(0.05);
    expect(rules.match({ ...query, kind: SpanKind.INTERNAL })).toBeUndefined();
  });

  it('matches the span name and attributes of every type, by strict equality', () => {
    const report = span({ name: 'nightly-report', attributes: { retry: false, attempt: 3 } });
    expect(rules.match(report)?.targetSeconds).toBe(30);
    expect(rules.match({ ...report, name: 'weekly-report' })).toBeUndefined();
    expect(rules.match({ ...report, attributes: { retry: false, attempt: '3' } })).toBeUndefined();
    expect(rules.match({ ...report, attributes: { retry: 'false', attempt: 3 } })).toBeUndefined();
  });

  it('answers with the same object every time (nothing allocated per span)', () => {
    const grpc = span({ attributes: { 'rpc.method': 'GetQuote' } });
    expect(rules.match(grpc)).toBe(rules.match(grpc));
  });

  it('is first match wins, in document order, with or without a service condition', () => {
    const ordered = parseRules(
      `rules:
  - match: { http.route: /health }
    target_seconds: 1
  - match: { service.name: checkout, http.route: /health }
    target_seconds: 2
  - match: { service.name: checkout, http.route: /pay }
    target_seconds: 3
  - match: { http.route: /pay }
    target_seconds: 4`,
      { file: FILE, targets: TARGETS },
    );
    const at = (service: string, route: string) =>
      ordered.match(span({ service, attributes: { 'http.route': route } }))?.targetSeconds;
    expect(at('checkout', '/health')).toBe(1);
    expect(at('checkout', '/pay')).toBe(3);
    expect(at('billing', '/pay')).toBe(4);
    expect(at('billing', '/health')).toBe(1);
    expect(at('billing', '/other')).toBeUndefined();
  });

  it('reads JSON too, and span kinds in any case', () => {
    const json = parseRules(
      JSON.stringify({
        rules: [{ match: { 'span.kind': 'PRODUCER', 'messaging.system': 'kafka' }, target_seconds: 0.2 }],
      }),
      { file: 'rules.json', targets: {} },
    );
    const produce = span({ kind: SpanKind.PRODUCER, attributes: { 'messaging.system': 'kafka' } });
    expect(json.match(produce)?.targetSeconds).toBe(0.2);
    expect(json.match({ ...produce, kind: SpanKind.CONSUMER })).toBeUndefined();
  });

  it('accepts an empty list, and the empty set matches nothing', () => {
    expect(parseRules('rules: []', { file: FILE, targets: TARGETS }).size).toBe(0);
    expect(EMPTY_RULES.size).toBe(0);
    expect(EMPTY_RULES.match(span({ attributes: { 'http.route': '/orders/:id' } }))).toBeUndefined();
  });
});

describe('parseRules: errors name the file, the place and what was expected', () => {
  const rule = (body: string) => `rules:\n  - match: { http.route: /a }\n    target_seconds: 1\n  - ${body}`;
  it.each([
    [
      rule('{ match: { http.route: /b }, target_seconds: -1 }'),
      'rules[1].target_seconds: is -1',
      'greater than 0',
    ],
    [
      rule('{ match: { http.route: /b }, target_seconds: 86401 }'),
      'rules[1].target_seconds: is 86401',
      'at most 86400',
    ],
    [
      rule('{ match: { http.route: /b }, target_seconds: .nan }'),
      'rules[1].target_seconds: is NaN',
      'a number of seconds',
    ],
    [
      rule('{ match: { http.route: [1] }, target_seconds: 1 }'),
      'rules[1].match["http.route"]: is an array',
      'a string',
    ],
    [
      rule('{ match: { http.route: null }, target_seconds: 1 }'),
      'rules[1].match["http.route"]: is null',
      'true or false',
    ],
    [
      rule('{ match: { span.kind: sideways }, target_seconds: 1 }'),
      'rules[1].match["span.kind"]: is "sideways"',
      'one of server, client, internal, producer, consumer',
    ],
    [
      rule('{ match: { service.name: 7 }, target_seconds: 1 }'),
      'rules[1].match["service.name"]: is 7',
      'a service name',
    ],
    [
      rule('{ match: {}, target_seconds: 1 }'),
      'rules[1].match: is empty',
      `1 to ${MAX_CONDITIONS} conditions`,
    ],
    [rule('{ target_seconds: 1 }'), 'rules[1].match: is missing', 'a mapping of 1 to'],
    [
      rule('{ match: { a: 1 } }'),
      'rules[1]: has neither target_seconds nor kind',
      'exactly one of target_seconds',
    ],
    [
      rule('{ match: { a: 1 }, target_seconds: 1, kind: simple_query }'),
      'rules[1]: has both',
      'exactly one of',
    ],
    [
      rule('{ match: { a: 1 }, kind: batch_job }'),
      'rules[1].kind: is "batch_job", not in the target table',
      'simple_query, ai_operation',
    ],
    [
      rule('{ match: { a: 1 }, target_seconds: 1, operation: "" }'),
      'rules[1].operation: is empty',
      '1 to 128 printable characters',
    ],
    [
      rule('{ match: { a: 1 }, target_seconds: 1, opration: x }'),
      'rules[1].opration: is not a known field',
      'one of match, target_seconds, kind, operation',
    ],
    ['rules: {}', 'rules: is an object', `a list of at most ${MAX_RULES} rules`],
    ['targets: []', 'rules: is missing', 'a list of at most'],
    ['', `${FILE}: is empty`, 'a mapping with a rules list'],
    [
      'rules: [ {',
      'is not valid YAML or JSON (Flow map in block collection must be sufficiently indented and end with a } at line 1, column 11)',
      'a mapping with a rules list',
    ],
    [
      'rules: []\nrules: []',
      'is not valid YAML or JSON (Map keys must be unique',
      'a mapping with a rules list',
    ],
    ['rules: []\n---\nrules: []', 'holds 2 YAML documents', 'one document'],
  ])('%j', (text, where, expected) => {
    const error = rulesError(text);
    expect(error.code).toBe('PERF_RULES_INVALID');
    expect(error.file).toBe(FILE);
    expect(error.message.startsWith(`${FILE}: `)).toBe(true);
    expect(error.message).toContain(where);
    expect(error.message.slice(error.message.indexOf('; expected '))).toContain(expected);
  });

  it('bounds the rules, the conditions per rule, the document and its aliases', () => {
    const many = `rules:\n${'  - { match: { a: 1 }, target_seconds: 1 }\n'.repeat(MAX_RULES + 1)}`;
    expect(rulesError(many).message).toContain(`rules: is an array of ${MAX_RULES + 1}`);
    const conditions = Array.from({ length: MAX_CONDITIONS + 1 }, (_, i) => `k${i}: ${i}`).join(', ');
    expect(rulesError(`rules: [{ match: { ${conditions} }, target_seconds: 1 }]`).message).toContain(
      `rules[0].match: has ${MAX_CONDITIONS + 1} conditions`,
    );
    const big = `# ${'x'.repeat(MAX_RULES_FILE_BYTES)}\nrules: []`;
    expect(rulesError(big).message).toContain(`at most ${MAX_RULES_FILE_BYTES} bytes`);
    // A "billion laughs" document: every level multiplies the aliases to expand.
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++)
      levels.push(
        `l${i}: &l${i} [${Array(10)
          .fill(i === 1 ? '*a' : `*l${i - 1}`)
          .join(', ')}]`,
      );
    expect(rulesError(`${levels.join('\n')}\nrules: []`).message).toContain('cannot be read');
  });

  it('accepts exactly the limits', () => {
    const conditions = Array.from({ length: MAX_CONDITIONS }, (_, i) => `k${i}: ${i}`).join(', ');
    const text = `rules:\n${`  - { match: { ${conditions} }, target_seconds: 86400 }\n`.repeat(MAX_RULES)}`;
    expect(parseRules(text, { file: FILE, targets: TARGETS }).size).toBe(MAX_RULES);
  });

  it('refuses bad options with an InvalidArgumentError', () => {
    expect(() => parseRules('rules: []', { file: '', targets: TARGETS })).toThrow(InvalidArgumentError);
    expect(() => parseRules('rules: []', { file: FILE, targets: { bad: -1 } })).toThrow(
      /options\.targets\.bad/,
    );
  });
});
