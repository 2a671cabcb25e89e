/**
 * Shutdown of sidecar processes started as users start them: keep-alive clients are told to close
 * (never reset), SIGINT and SIGHUP shut down as gracefully as SIGTERM, and a shutdown that cannot
 * finish (Redis hung by SIGSTOP) ends with exit 1 at the configured deadline.
 */

import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import type { AlertRecord } from '../../src/alerts/index.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { OwnRedis } from '../helpers/redis-server.ts';
import { startSidecarProcess } from '../helpers/sidecar.ts';
import { deleteKeys } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

interface Answer {
  status: number;
  connection: string | undefined;
  localPort: number | undefined;
}

/** GET through `agent`; resolves with the status and `Connection` header, rejects with the error. */
function get(agent: Agent, url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers }, (res) => {
      const localPort = res.socket?.localPort;
      res.resume();
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, localPort }),
      );
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end();
  });
}

/** The PID of the redis-server behind `url` (from INFO), to stop it by PID. */
async function redisPid(url: string): Promise<number> {
  const client = new Redis(url);
  try {
    const info = await client.info('server');
    return Number(/process_id:(\d+)/.exec(info)?.[1]);
  } finally {
    client.disconnect();
  }
}

function outcome(promise: Promise<Answer>): Promise<Answer | { code: string }> {
  return promise.catch((error: NodeJS.ErrnoException) => ({ code: error.code ?? error.message }));
}

const redis = new Redis(TEST_REDIS_URL);
const prefix = `test:${randomUUID()}:`;
afterAll(async () => {
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

describe('keep-alive connections at shutdown', () => {
  it('in-flight responses carry Connection: close and the next request is never reset', async () => {
    const app = await startSidecarProcess({ fixture: 'host-app.mjs' }, {});
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(agent, `${app.url}/users/1`);
      expect(first.connection).toBe('keep-alive');
      const slow = get(agent, `${app.url}/slow?ms=700`, { 'x-correlation-id': 'ka-slow' });
      await waitFor(() => app.stdout().includes('"correlation":"ka-slow"'), {
        what: 'the slow handler running',
      });
      // Reused for the next request as soon as the slow one is answered (maxSockets 1).
      const slowSocketPort = first.localPort;
      const stopped = app.stop();
      await waitFor(() => app.stdout().includes('host app shutting down'), {
        what: 'the shutdown to begin',
      });
      const next = outcome(get(agent, `${app.url}/users/2`));
      const answered = await slow;
      expect(answered.status).toBe(200);
      expect(answered.localPort).toBe(slowSocketPort);
      expect(answered.connection).toBe('close');
      // The queued request goes out on a new connection, which the stopped server refuses: a
      // failure a client can retry elsewhere without wondering whether it was processed.
      const after = await next;
      expect(after).not.toEqual({ code: 'ECONNRESET' });
      expect(after).toEqual({ code: 'ECONNREFUSED' });
      expect(await stopped).toBe(0);
    } finally {
      agent.destroy();
      await app.stop();
    }
  });

  it('closes idle keep-alive connections first, so the next request is not reset', async () => {
    const app = await startSidecarProcess({ fixture: 'host-app.mjs' }, {});
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await get(agent, `${app.url}/users/1`)).connection).toBe('keep-alive');
      // One in-flight request keeps the process up while the idle one is examined.
      const other = new Agent({ keepAlive: false });
      const slow = get(other, `${app.url}/slow?ms=700`, { 'x-correlation-id': 'ka-idle' });
      await waitFor(() => app.stdout().includes('"correlation":"ka-idle"'), { what: 'the slow handler' });
      const idleSocket = Object.values(agent.freeSockets).flat()[0];
      expect(idleSocket).toBeDefined();
      const closed = new Promise<void>((resolve) => idleSocket?.once('close', () => resolve()));
      const stopped = app.stop();
      await closed;
      const after = await outcome(get(agent, `${app.url}/users/2`));
      expect(after).toEqual({ code: 'ECONNREFUSED' });
      expect((await slow).status).toBe(200);
      expect(await stopped).toBe(0);
      other.destroy();
    } finally {
      agent.destroy();
      await app.stop();
    }
  });
});

describe('signals reaching the sidecar process (npm start)', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)(
    'shuts down gracefully on %s: in-flight alert flushed, exit 0',
    async (signal) => {
      const list = `${prefix}${signal}:`;
      const app = await startSidecarProcess(
        { server: true },
        { REDIS_URL: TEST_REDIS_URL, ALERT_KEY_PREFIX: list, SLOW_REQUEST_THRESHOLD: '0.000001' },
      );
      const res = await fetch(`${app.url}/livez`, { headers: { 'x-correlation-id': `sig-${signal}` } });
      expect(res.status).toBe(200);
      app.child.kill(signal);
      expect(await app.exited).toBe(0);
      expect(app.stdout()).toContain(`"signal":"${signal}"`);
      expect(app.stdout()).toContain('perf-sidecar stopped');
      const records = (await redis.lrange(`${list}performance_alerts`, 0, -1)).map(
        (r) => JSON.parse(r) as AlertRecord,
      );
      expect(records.find((r) => r.correlation_id === `sig-${signal}`)).toMatchObject({
        type: 'slow_request',
      });
    },
  );

  it('exits 1 when the shutdown passes SHUTDOWN_TIMEOUT_MS (Redis hung by SIGSTOP)', async () => {
    const own = await OwnRedis.start();
    let pid: number | undefined;
    const app = await startSidecarProcess(
      { server: true },
      // Redis commands may take 5 s; the shutdown may take 0.5 s: the hung QUIT cannot fit.
      { REDIS_URL: own.url, REDIS_COMMAND_TIMEOUT_MS: '5000', SHUTDOWN_TIMEOUT_MS: '500' },
    );
    try {
      await waitFor(async () => (await fetch(`${app.url}/readyz`)).status === 200, {
        what: 'the sidecar ready',
      });
      pid = await redisPid(own.url);
      process.kill(pid, 'SIGSTOP');
      app.child.kill('SIGTERM');
      expect(await app.exited).toBe(1);
      expect(app.stdout()).toContain('graceful shutdown took longer than 500 ms; exiting');
    } finally {
      if (pid !== undefined) process.kill(pid, 'SIGCONT');
      await app.stop();
      await own.dispose();
    }
  });
});
