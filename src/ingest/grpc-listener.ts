/**
 * Where the OTLP/gRPC receiver listens. The port is a plain TCP listener from the start; grpc-js
 * and the receiver (grpc-receiver.ts) are loaded on the first connection and given every
 * connection from then on through grpc-js's connection injector, which serves them with the same
 * HTTP/2 server and handlers as a port grpc-js binds itself. grpc-js is about 65 modules: a sidecar
 * whose receiver no exporter connects to (most send OTLP/HTTP, or nothing) holds about 4 MiB less,
 * and with Redis they often decided whether V8 doubled its young generation at start (10 MiB more).
 *
 * Connections are accepted paused (nothing is read from them until the HTTP/2 server takes them),
 * so the first exporter loses nothing while the receiver loads. A host name is listened on at
 * every address it resolves to, as grpc-js binds them.
 */
import { lookup } from 'node:dns/promises';
import { type AddressInfo, createServer, isIP, type Server, type Socket } from 'node:net';
import { errorText } from '../shared/errors.ts';
import type { GrpcReceiver, GrpcReceiverOptions, GrpcService } from './grpc-receiver.ts';

/** Listens with `server` on `host:port`; resolves with the port. */
function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Starts an OTLP/gRPC receiver (insecure: plaintext HTTP/2, as the sidecar is reached locally).
 *
 * @throws {Error} when it cannot listen (the address is in use, the host does not resolve).
 */
export async function startGrpcReceiver(options: GrpcReceiverOptions): Promise<GrpcReceiver> {
  const { logger } = options;
  const hostPart = options.host.includes(':') ? `[${options.host}]` : options.host;
  const where = `${hostPart}:${options.port}`;
  let closing = false;
  let service: Promise<GrpcService | undefined> | undefined;
  const loaded = (): Promise<GrpcService | undefined> => {
    service ??= import('./grpc-receiver.ts').then(
      (receiver) => receiver.grpcService(options),
      (error: unknown) => {
        logger.error({ err: errorText(error) }, 'the OTLP/gRPC receiver could not be loaded');
        return undefined;
      },
    );
    return service;
  };
  const accept = (socket: Socket) => {
    // Until the HTTP/2 server has it: a client that resets meanwhile must not be an unhandled error.
    socket.on('error', () => undefined);
    if (closing) {
      socket.destroy();
      return;
    }
    void loaded().then((grpc) => {
      if (grpc && !closing) {
        grpc.injectConnection(socket);
        // Accepted paused; the HTTP/2 session reads from it once it flows again.
        socket.resume();
      } else socket.destroy();
    });
  };

  const listeners: Server[] = [];
  try {
    const hosts = isIP(options.host)
      ? [options.host]
      : (await lookup(options.host, { all: true })).map((a) => a.address);
    let port = options.port;
    for (const host of hosts) {
      const listener = createServer({ pauseOnConnect: true }, accept);
      listeners.push(listener);
      // Port 0 picks a free port for the first address; the others take the same one.
      port = await listen(listener, host, port);
    }
    for (const listener of listeners) {
      listener.on('error', (error) => logger.warn({ err: errorText(error) }, 'OTLP/gRPC listener error'));
    }
    return {
      address: `${hostPart}:${port}`,
      port,
      async close(timeoutMs) {
        closing = true;
        for (const listener of listeners) listener.close();
        await (await service)?.close(timeoutMs);
      },
    };
  } catch (error) {
    for (const listener of listeners) listener.close();
    // Said as grpc-js's own bind failure was: where, and the error kept as the cause.
    throw new Error(`the OTLP/gRPC receiver cannot listen on ${where} (in use?): ${errorText(error)}`, {
      cause: error,
    });
  }
}
