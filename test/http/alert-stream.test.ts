/**
 * `GET /api/system/alerts/stream` on a real sidecar server (startSidecar in process, alerts in the
 * real Redis under the test's prefix), read by `fetch` as a client would: records arrive as events
 * when raised, filtered by type, after the `recent` ones; bad queries and missing tokens are
 * refused; the stream limit answers 503; a client that stops reading is dropped at the backlog bound
 * while a reading one goes on; a disconnect gives the sink listener back, and closing the sidecar
 * ends open streams cleanly.
 */
import { get, type IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertInput, AlertRecord } from '../../src/alerts/index.ts';
import { ALERT_STREAM_BACKLOG, MAX_ALERT_STREAMS } from '../../src/http/alert-stream.ts';
import { type SidecarServer, startSidecar } from '../../src/http/index.ts';
import { startConnectedTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

const TOKEN = 'stream-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };

let t: TestTelemetry | undefined;
let sidecar: SidecarServer | undefined;
afterEach(async () => {
  await sidecar?.close();
  sidecar = undefined;
  await t?.cleanup();
  t = undefined;
});

async function start(): Promise<{ t: TestTelemetry; sidecar: SidecarServer }> {
  t = await startConnectedTelemetry({ PERF_API_TOKEN: TOKEN });
  sidecar = await startSidecar({ host: '127.0.0.1', port: 0, database: false });
  return { t, sidecar };
}

function alert(operation: string, extra: Partial<AlertInput> = {}): AlertInput {
  return {
    type: 'target_exceeded',
    service: 'shop',
    operation,
    value: 3,
    threshold: 2,
    unit: 's',
    summary: `Operation "${operation}" took 3 s.`,
    ...extra,
  };
}

interface Frame {
  event?: string;
  id?: string;
  data?: string;
  comment?: string;
}

/** An open event stream: the frames parsed so far, and whether the server ended it. */
interface Client {
  readonly response: Response;
  readonly frames: Frame[];
  /** Alert records received, in order. */
  records(): AlertRecord[];
  /** Resolves when the body ends: `done` for a clean end, the error otherwise. */
  readonly ended: Promise<'done' | Error>;
  abort(): void;
}

async function connect(base: string, path: string, headers: Record<string, string> = AUTH): Promise<Client> {
  const controller = new AbortController();
  const response = await fetch(`${base}${path}`, { headers, signal: controller.signal });
  const frames: Frame[] = [];
  const body = response.body;
  if (!body) throw new Error('no body');
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  const ended = (async (): Promise<'done' | Error> => {
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return 'done';
        buffer += value;
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          frames.push(parseFrame(buffer.slice(0, end)));
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
        }
      }
    } catch (error) {
      return error as Error;
    }
  })();
  return {
    response,
    frames,
    records: () =>
      frames.filter((f) => f.event === 'alert').map((f) => JSON.parse(f.data ?? '') as AlertRecord),
    ended,
    abort: () => controller.abort(),
  };
}

/**
 * GET on a connection of its own (node:http, no agent). Not `fetch`: a request sent through
 * fetch's pool while its other connections stream makes the pool open a fresh connection for each
 * stream aborted afterwards, which the server then holds until its shutdown deadline.
 */
function plainGet(url: string, headers: Record<string, string>) {
  return new Promise<{ status: number; retryAfter: string | undefined; body: unknown }>((resolve, reject) => {
    get(url, { headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk;
      });
      res.once('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          retryAfter: res.headers['retry-after'],
          body: JSON.parse(text),
        }),
      );
    }).once('error', reject);
  });
}

function parseFrame(text: string): Frame {
  const frame: Frame = {};
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) frame.comment = line.slice(1).trim();
    const match = /^(event|id|data): (.*)$/.exec(line);
    if (match) frame[match[1] as 'event' | 'id' | 'data'] = match[2];
  }
  return frame;
}

describe('GET /api/system/alerts/stream', () => {
  it('sends each record raised as an event, repeats with the same id, and releases the listener on disconnect', async () => {
    const { t, sidecar } = await start();
    const client = await connect(sidecar.url, '/api/system/alerts/stream');
    expect(client.response.status).toBe(200);
    expect(client.response.headers.get('content-type')).toBe('text/event-stream');
    expect(t.telemetry.alerts.listenerCount).toBe(1);

    t.telemetry.alerts.emit(alert('checkout'));
    const [first] = await waitFor(() => (client.records().length === 1 ? client.records() : undefined), {
      what: 'the alert event',
    });
    expect(first).toMatchObject({ type: 'target_exceeded', labels: { operation: 'checkout' }, repeats: 1 });
    const frame = client.frames.find((f) => f.event === 'alert');
    expect(frame?.id).toBe(first?.id);

    // A folded repeat: the same record again, counted.
    t.telemetry.alerts.emit(alert('checkout'));
    const second = await waitFor(() => client.records()[1], { what: 'the repeat event' });
    expect(second).toMatchObject({ id: first?.id, repeats: 2 });

    client.abort();
    await waitFor(() => t.telemetry.alerts.listenerCount === 0, { what: 'the listener to be released' });
  });

  it('filters by type', async () => {
    const { t, sidecar } = await start();
    const client = await connect(sidecar.url, '/api/system/alerts/stream?type=slow_query');
    t.telemetry.alerts.emit(alert('checkout'));
    t.telemetry.alerts.emit(alert('orders', { type: 'slow_query', unit: 's' }));
    // Events keep their order, so the target_exceeded raised first would have come first.
    await waitFor(() => client.records().length === 1, { what: 'the slow_query event' });
    expect(client.records().map((r) => r.type)).toEqual(['slow_query']);
    client.abort();
  });

  it('sends the `recent` newest records first, oldest first, then live ones', async () => {
    const { t, sidecar } = await start();
    const base = Date.now() - 60_000;
    for (let i = 1; i <= 3; i++) t.telemetry.alerts.emit(alert(`op_${i}`, { timeMs: base + i * 1000 }));
    await t.telemetry.alerts.flush();
    const client = await connect(sidecar.url, '/api/system/alerts/stream?recent=2');
    await waitFor(() => client.records().length === 2, { what: 'the recent records' });
    t.telemetry.alerts.emit(alert('op_4'));
    await waitFor(() => client.records().length === 3, { what: 'the live record' });
    expect(client.records().map((r) => r.labels.operation)).toEqual(['op_2', 'op_3', 'op_4']);
    client.abort();
  });

  it('answers a bad query 400 invalid_query and a missing token 401, subscribing nothing', async () => {
    const { t, sidecar } = await start();
    for (const [query, detail] of [
      ['type=nope', /^type: "nope" is not an alert type/],
      ['recent=101', /^recent: "101" is not accepted; expected a whole number from 0 to 100$/],
      ['limit=5', /^unknown query parameter "limit"; accepted: type, recent$/],
      ['recent=1&recent=2', /given 2 times/],
    ] as const) {
      const res = await fetch(`${sidecar.url}/api/system/alerts/stream?${query}`, { headers: AUTH });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { error: string; detail: string };
      expect(body.error).toBe('invalid_query');
      expect(body.detail).toMatch(detail);
    }
    const refused = await fetch(`${sidecar.url}/api/system/alerts/stream`);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'unauthorized' });
    expect(t.telemetry.alerts.listenerCount).toBe(0);
  });

  it(`refuses stream ${MAX_ALERT_STREAMS + 1} with 503 and Retry-After`, async () => {
    const { t, sidecar } = await start();
    const clients = await Promise.all(
      Array.from({ length: MAX_ALERT_STREAMS }, () => connect(sidecar.url, '/api/system/alerts/stream')),
    );
    expect(clients.every((c) => c.response.status === 200)).toBe(true);
    const res = await plainGet(`${sidecar.url}/api/system/alerts/stream`, AUTH);
    expect(res.status).toBe(503);
    expect(res.retryAfter).toBe('5');
    expect(res.body).toMatchObject({ error: 'too_many_streams' });
    for (const c of clients) c.abort();
    await waitFor(() => t.telemetry.alerts.listenerCount === 0, { what: 'every listener released' });
    // A slot is free again.
    const again = await connect(sidecar.url, '/api/system/alerts/stream');
    expect(again.response.status).toBe(200);
    again.abort();
  });

  it(`drops a client that stops reading once ${ALERT_STREAM_BACKLOG} records wait for it, and keeps serving the others`, async () => {
    const { t, sidecar } = await start();
    const reading = await connect(sidecar.url, '/api/system/alerts/stream');
    // A client that reads the headers, then nothing more: once the socket buffers on both sides are
    // full, the records wait in the stream's own queue until the backlog bound drops the client.
    let closed = false;
    const stalled = await new Promise<IncomingMessage>((resolve, reject) => {
      get(`${sidecar.url}/api/system/alerts/stream`, { headers: AUTH, agent: false }, (res) => {
        res.pause();
        res.once('close', () => {
          closed = true;
        });
        resolve(res);
      }).once('error', reject);
    });
    await waitFor(() => t.telemetry.alerts.listenerCount === 2, { what: 'both streams subscribed' });
    const summary = `Operation took 3 s. ${'x'.repeat(2000)}`;
    let emitted = 0;
    // Bounded: 200 rounds of 500 records (100,000) at most; it takes a few thousand on loopback.
    for (let round = 0; round < 200 && t.telemetry.alerts.listenerCount === 2; round++) {
      for (let i = 0; i < 500; i++) t.telemetry.alerts.emit(alert(`op_${emitted++ % 50}`, { summary }));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await waitFor(() => t.telemetry.alerts.listenerCount === 1, { what: 'the stalled client dropped' });
    // Reading again, the client gets what its buffers hold, then the end of the connection: the
    // server gave it up rather than keeping it open.
    stalled.on('error', () => undefined).resume();
    await waitFor(() => closed, { what: 'the stalled client to see its connection end', timeoutMs: 20_000 });
    // The reading client was not dropped: it is still subscribed and gets a record sent now.
    t.telemetry.alerts.emit(alert('after_the_drop'));
    await waitFor(() => reading.records().some((r) => r.labels.operation === 'after_the_drop'), {
      what: 'the reading client to get a record sent after the drop',
      timeoutMs: 20_000,
    });
    reading.abort();
  });

  it('ends open streams cleanly when the sidecar closes', async () => {
    const { t, sidecar: running } = await start();
    const clients = await Promise.all([
      connect(running.url, '/api/system/alerts/stream'),
      connect(running.url, '/api/system/alerts/stream?type=slow_query'),
    ]);
    expect(t.telemetry.alerts.listenerCount).toBe(2);
    await running.close();
    sidecar = undefined;
    // `done`, not an error: the server ended the body, no connection was cut at the deadline.
    expect(await Promise.all(clients.map((c) => c.ended))).toEqual(['done', 'done']);
    expect(t.telemetry.alerts.listenerCount).toBe(0);
  });
});
