/**
 * startReceivers' options: each bad one is an InvalidArgumentError naming it, what was wrong and
 * what was expected (the token never echoed), before anything listens; an address in use fails the
 * start and leaves nothing listening.
 */

import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { startReceivers } from '../../src/ingest/receivers.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { quiet } from './helpers.ts';

const base = { httpPort: 0, grpcPort: 0, logger: quiet, processTraces: () => undefined };

async function refusal(options: Record<string, unknown>): Promise<InvalidArgumentError> {
  const error = await startReceivers(options as never).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(InvalidArgumentError);
  return error as InvalidArgumentError;
}

describe('startReceivers options', () => {
  it('names the bad option, the problem and the accepted form', async () => {
    expect((await refusal({ ...base, httpPort: 70_000 })).message).toBe(
      'options.httpPort: is 70000; expected an integer from 0 to 65535',
    );
    expect((await refusal({ ...base, maxBodyBytes: 10 })).message).toBe(
      'options.maxBodyBytes: is 10; expected an integer number of bytes from 1024 to 268435456',
    );
    expect((await refusal({ ...base, queueSpans: 0 })).argument).toBe('options.queueSpans');
    expect((await refusal({ ...base, processTraces: 'evaluate' })).message).toBe(
      'options.processTraces: is "evaluate"; expected a function taking the decoded traces',
    );
    const { processTraces: _, ...withoutProcess } = base;
    expect((await refusal(withoutProcess)).argument).toBe('options.processTraces');
    expect((await refusal({ ...base, grpcPotr: 1 })).message).toMatch(
      /^options\.grpcPotr: is not an option of startReceivers; expected one of /,
    );
  });

  it('never echoes a token it refuses', async () => {
    const error = await refusal({ ...base, token: 'short secret' });
    expect(error.message).toBe(
      'options.token: is a string that is not accepted (value hidden); expected 16 to 512 characters of A-Z a-z 0-9 - . _ ~ + / (then optional = padding)',
    );
  });

  it('fails on an address in use and leaves nothing listening', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      await expect(startReceivers({ ...base, grpcPort: port })).rejects.toThrow(
        `the OTLP/gRPC receiver cannot listen on 127.0.0.1:${port} (in use?)`,
      );
      // The HTTP receiver it had started is closed again: the same port can be taken at once.
      const free = createServer();
      await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve));
      const httpPort = (free.address() as AddressInfo).port;
      await new Promise<void>((resolve) => free.close(() => resolve()));
      await expect(startReceivers({ ...base, httpPort, grpcPort: port })).rejects.toThrow();
      const again = await startReceivers({ ...base, httpPort });
      await again.close();
    } finally {
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
