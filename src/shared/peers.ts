/**
 * Optional peer dependencies: the packages only some parts of perf-sidecar need. They are loaded
 * when that part first needs them (never by the root entry), and a missing one is reported with
 * the package to install instead of a bare module-resolution error.
 *
 * `hono` is the exception: `perf-sidecar/http` imports it statically (it is a Hono middleware),
 * so a missing `hono` is reported by Node itself, naming the package, when that subpath loads.
 */
import { PerfSidecarError } from './errors.ts';

/** Each optional peer: the range perf-sidecar is tested with and what needs it. */
export const OPTIONAL_PEERS = Object.freeze({
  ioredis: {
    range: '^6.0.0',
    neededFor: 'Redis (REDIS_URL, the alert lists and rollups, the cache redis option)',
  },
  pg: { range: '^8.23.1', neededFor: 'the database service (perf-sidecar/db)' },
  '@electric-sql/pglite': {
    range: '^0.5.14',
    neededFor: 'the embedded PostgreSQL (perf-sidecar/db without a URL)',
  },
  '@electric-sql/pglite-socket': {
    range: '^0.2.17',
    neededFor: 'the embedded PostgreSQL (perf-sidecar/db without a URL)',
  },
  hono: { range: '^4.13.19', neededFor: 'the HTTP middleware and the sidecar server (perf-sidecar/http)' },
  '@hono/node-server': { range: '^2.1.9', neededFor: 'the sidecar server (startSidecar, npm start)' },
} as const);

/** The name of an optional peer dependency. */
export type PeerName = keyof typeof OPTIONAL_PEERS;

/** A part of perf-sidecar was used whose optional peer dependency is not installed. */
export class MissingPeerError extends PerfSidecarError {
  /** The package to install. */
  readonly packageName: PeerName;

  constructor(name: PeerName, options?: ErrorOptions) {
    const peer = OPTIONAL_PEERS[name];
    super(
      'PERF_PEER_MISSING',
      `the package "${name}" is not installed; perf-sidecar needs it for ${peer.neededFor}. Install it: npm install ${name}@${peer.range}`,
      options,
    );
    this.packageName = name;
  }
}

/** Whether `error` is Node's report that the package `name` itself cannot be found. */
function isMissing(error: unknown, name: PeerName): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  const message = error instanceof Error ? error.message : '';
  return message.includes(`'${name}'`) || message.includes(`"${name}"`);
}

/**
 * Loads an optional peer. `load` is the literal `import()` of the package, so that bundlers, type
 * checking and the instrumentation hooks see the real specifier.
 *
 * @throws {MissingPeerError} when the package is not installed (other load errors pass unchanged).
 * @example
 * const { Redis } = await importPeer('ioredis', () => import('ioredis'));
 */
export async function importPeer<T>(name: PeerName, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isMissing(error, name)) throw new MissingPeerError(name, { cause: error });
    throw error;
  }
}

/**
 * Checks that an optional peer can be resolved, without loading it (for a package that another
 * process loads, such as the embedded PostgreSQL's child).
 *
 * @throws {MissingPeerError} when it cannot be resolved.
 */
export function assertPeerInstalled(name: PeerName): void {
  try {
    import.meta.resolve(name);
  } catch (error) {
    if (isMissing(error, name)) throw new MissingPeerError(name, { cause: error });
    throw error;
  }
}
