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
    expect(rules.match(grpc)).toEqual({ targetSeconds: 2, operation: undefined, kind: 'simple_query' });
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

  it('is first match wins with keyed and unkeyed rules mixed, in any order', () => {
    // Rules that a span reaches by its name, an attribute, its kind, or its service only (no key),
    // for its service or any: every order of them must give what walking the file gives.
    const RULES: { text: string; conditions: Record<string, string> }[] = [
      { text: '{ span.name: checkout }', conditions: { name: 'checkout' } },
      { text: '{ http.route: /pay }', conditions: { 'http.route': '/pay' } },
      {
        text: '{ http.route: /pay, http.request.method: POST }',
        conditions: { 'http.route': '/pay', 'http.request.method': 'POST' },
      },
      {
        text: '{ http.route: /pay, http.request.method: GET }',
        conditions: { 'http.route': '/pay', 'http.request.method': 'GET' },
      },
      { text: '{ span.kind: server }', conditions: { kind: 'server' } },
      { text: '{ service.name: shop }', conditions: { service: 'shop' } },
      {
        text: '{ service.name: shop, http.request.method: GET }',
        conditions: { service: 'shop', 'http.request.method': 'GET' },
      },
      {
        text: '{ service.name: shop, span.name: checkout, span.kind: client }',
        conditions: { service: 'shop', name: 'checkout', kind: 'client' },
      },
    ];
    const KINDS: Record<string, SpanKind> = { server: SpanKind.SERVER, client: SpanKind.CLIENT };
    const spans = [
      span({
        service: 'shop',
        name: 'checkout',
        attributes: { 'http.route': '/pay', 'http.request.method': 'GET' },
      }),
      span({
        service: 'shop',
        name: 'checkout',
        attributes: { 'http.route': '/pay', 'http.request.method': 'POST' },
      }),
      span({
        service: 'other',
        name: 'checkout',
        attributes: { 'http.route': '/pay', 'http.request.method': 'POST' },
      }),
      span({
        service: 'other',
        name: 'refund',
        attributes: { 'http.route': '/pay', 'http.request.method': 'PUT' },
      }),
      span({ service: 'shop', name: 'checkout', kind: SpanKind.CLIENT, attributes: {} }),
      span({
        service: 'other',
        name: 'refund',
        kind: SpanKind.CLIENT,
        attributes: { 'http.route': '/other' },
      }),
    ];
    /** The file walked in order, every condition checked: what the index must agree with. */
    const walked = (order: number[], s: SpanView): number | undefined => {
      for (const i of order) {
        const holds = Object.entries(RULES[i]?.conditions ?? {}).every(([key, value]) =>
          key === 'name'
            ? s.name === value
            : key === 'kind'
              ? s.kind === KINDS[value]
              : key === 'service'
                ? s.service === value
                : s.attributes[key] === value,
        );
        if (holds) return i + 1;
      }
      return undefined;
    };
    // Every rotation, its reverse, and shuffles from a fixed seed.
    const orders: number[][] = [];
    const identity = RULES.map((_, i) => i);
    for (let r = 0; r < RULES.length; r++) {
      const rotated = [...identity.slice(r), ...identity.slice(0, r)];
      orders.push(rotated, [...rotated].reverse());
    }
    let seed = 7;
    for (let n = 0; n < 200; n++) {
      const order = [...identity];
      for (let i = order.length - 1; i > 0; i--) {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
        const j = seed % (i + 1);
        [order[i], order[j]] = [order[j] as number, order[i] as number];
      }
      orders.push(order);
    }
    let matched = 0;
    for (const order of orders) {
      // Rule i's target is i + 1 seconds, so the target says which rule won.
      const text = `rules:\n${order.map((i) => `  - match: ${RULES[i]?.text}\n    target_seconds: ${i + 1}\n`).join('')}`;
      const rules = parseRules(text, { file: FILE, targets: TARGETS });
      for (const s of spans) {
        const expected = walked(order, s);
        if (expected !== undefined) matched++;
        expect(rules.match(s)?.targetSeconds, `${order.join(',')} ${s.service} ${s.name}`).toBe(expected);
      }
    }
    // The spans do exercise matches (and the last one matches nothing in any order).
    expect(matched).toBe(orders.length * (spans.length - 1));
  });

  it('does the same work per span whatever the number of rules', () => {
    // Rules of the shapes of docs/rules.md, none matching the spans below but the last one.
    const shapes = [
      (i: number) => `{ service.name: checkout, http.route: /r/${i}, http.request.method: GET }`,
      (i: number) => `{ span.name: job-${i} }`,
      (i: number) => `{ rpc.service: quotes.v1.Quotes, rpc.method: Get${i} }`,
      (i: number) => `{ db.operation.name: OP${i}, span.kind: client }`,
      (i: number) => `{ service.name: checkout, span.kind: producer, messaging.destination.name: q${i} }`,
    ];
    const document = (count: number) =>
      `rules:\n${Array.from({ length: count }, (_, i) => `  - match: ${shapes[i % shapes.length]?.(i)}\n    target_seconds: ${i + 1}\n`).join('')}`;
    /** How many times matching reads the span (its name, kind and attributes). */
    const reads = (rules: ReturnType<typeof parseRules>, over: Partial<SpanView>): number => {
      let count = 0;
      const base = span(over);
      const attributes = new Proxy(base.attributes, {
        get(target, key) {
          count++;
          return Reflect.get(target, key);
        },
      });
      const counted: SpanView = {
        ...base,
        get name() {
          count++;
          return base.name;
        },
        get kind() {
          count++;
          return base.kind;
        },
        attributes,
      };
      rules.match(counted);
      return count;
    };
    const few = parseRules(document(10), { file: FILE, targets: TARGETS });
    const many = parseRules(document(MAX_RULES), { file: FILE, targets: TARGETS });
    /** Index of the last database rule of `count` rules (shape 3). */
    const lastQuery = (count: number) => count - 1 - ((count - 1 - 3) % shapes.length);
    const spansOf = (count: number) => [
      { name: 'validation', kind: SpanKind.INTERNAL, attributes: {} },
      { kind: SpanKind.CLIENT, attributes: { 'http.route': '/r/3', 'db.operation.name': 'SELECT' } },
      {
        name: 'job-x',
        kind: SpanKind.PRODUCER,
        attributes: { 'rpc.method': 'Get', 'http.request.method': 'GET' },
      },
      // Matches the last database rule, near the end: found without walking the rules before it.
      { kind: SpanKind.CLIENT, attributes: { 'db.operation.name': `OP${lastQuery(count)}` } },
    ];
    const fewSpans = spansOf(10);
    const manySpans = spansOf(MAX_RULES);
    expect(many.match(span(manySpans[3]))?.targetSeconds).toBe(lastQuery(MAX_RULES) + 1);
    expect(few.match(span(fewSpans[3]))?.targetSeconds).toBe(lastQuery(10) + 1);
    for (let i = 0; i < fewSpans.length; i++) {
      const once = reads(few, fewSpans[i] as Partial<SpanView>);
      expect(reads(many, manySpans[i] as Partial<SpanView>), `span ${i}`).toBe(once);
      expect(once).toBeLessThan(10);
    }
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

  // Each way a document can spell the key: were a parser to drop it (or make it the mapping's
  // prototype) instead of keeping an own key, the check would not see it and the rule would load.
  it.each([
    [
      'YAML, flow',
      'rules:\n  - { match: { a: 1 }, target_seconds: 1 }\n  - { match: { __proto__: x, span.name: a }, target_seconds: 1 }',
    ],
    [
      'YAML, block, quoted',
      'rules:\n  - { match: { a: 1 }, target_seconds: 1 }\n  - match:\n      span.name: a\n      "__proto__": x\n    target_seconds: 1',
    ],
    [
      'YAML, a mapping value',
      'rules:\n  - { match: { a: 1 }, target_seconds: 1 }\n  - { match: { span.name: a, __proto__: { b: 1 } }, target_seconds: 1 }',
    ],
    [
      'YAML 1.1, merged in by a merge key',
      '%YAML 1.1\n---\nrules:\n  - { match: { a: 1 }, target_seconds: 1 }\n  - { match: { <<: { __proto__: x }, span.name: a }, target_seconds: 1 }',
    ],
    [
      'JSON',
      '{"rules":[{"match":{"a":1},"target_seconds":1},{"match":{"__proto__":"x","span.name":"a"},"target_seconds":1}]}',
    ],
  ])('refuses a __proto__ condition key (%s) rather than dropping it', (_, text) => {
    const error = rulesError(text);
    expect(error.path).toBe('rules[1].match.__proto__');
    expect(error.message).toContain(
      'rules[1].match.__proto__: is a reserved name, not usable as a condition key',
    );
    expect(error.message).toContain(
      '; expected an attribute name of 1 to 256 printable characters, other than __proto__',
    );
  });

  it('keeps constructor and prototype as ordinary attribute conditions', () => {
    const rules = parseRules(
      JSON.stringify({
        rules: [{ match: { constructor: 'x', prototype: 'y', 'span.name': 'a' }, target_seconds: 1 }],
      }),
      { file: FILE, targets: TARGETS },
    );
    expect(rules.match(span({ name: 'a' }))).toBeUndefined();
    expect(rules.match(span({ name: 'a', attributes: { constructor: 'x' } }))).toBeUndefined();
    expect(
      rules.match(span({ name: 'a', attributes: { constructor: 'x', prototype: 'y' } }))?.targetSeconds,
    ).toBe(1);
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
