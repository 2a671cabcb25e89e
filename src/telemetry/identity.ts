/**
 * Whose telemetry this is. Under the preload, perf-sidecar runs inside a host application, and the
 * resource must describe the host (`service.name`, `service.version`), not perf-sidecar: the host's
 * identity comes from `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, then the host's package.json,
 * then the SDK default `unknown_service:node`. perf-sidecar names itself in the instrumentation
 * scope and in `telemetry.distro.name` / `telemetry.distro.version`. Only the sidecar server process
 * (src/server.ts) is `perf-sidecar` by default.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { SCOPE_NAME, VERSION } from '../shared/scope.ts';

/** A service's name and version, each optional. */
export interface ServiceIdentity {
  /** `service.name`. */
  readonly name?: string;
  /** `service.version`. */
  readonly version?: string;
}

/** The sidecar server's own identity (below `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`). */
export const SIDECAR_IDENTITY: ServiceIdentity = Object.freeze({ name: SCOPE_NAME, version: VERSION });

/**
 * Resource attributes naming the distribution that configured the SDK and its version: the stable
 * semantic conventions' constants, re-exported under the names this module has always exported.
 */
export {
  ATTR_TELEMETRY_DISTRO_NAME,
  ATTR_TELEMETRY_DISTRO_VERSION,
} from '@opentelemetry/semantic-conventions';

// A package.json larger than this is not read (bounded work at start-up).
const MAX_PACKAGE_JSON_BYTES = 1024 * 1024;
// Directories climbed from the main module looking for package.json.
const MAX_PARENT_DIRECTORIES = 32;

/**
 * The host application's name and version from the package.json nearest to its main module
 * (`process.argv[1]`), or nothing when there is none, it cannot be read, or it is perf-sidecar's
 * own (a program run from perf-sidecar's checkout is not perf-sidecar). Values that are not short
 * printable strings are ignored.
 *
 * @param mainPath the main module's path. Default `process.argv[1]`.
 */
export function hostPackageIdentity(mainPath: string | undefined = process.argv[1]): ServiceIdentity {
  if (!mainPath) return {};
  let dir: string;
  try {
    dir = dirname(realpathSync(mainPath));
  } catch {
    return {};
  }
  for (let i = 0; i < MAX_PARENT_DIRECTORIES; i++) {
    // A main module inside node_modules is a tool (`npx vitest`, a CLI): its package is not the
    // application; the project around node_modules is.
    if (!dir.split(sep).includes('node_modules')) {
      const identity = readPackageIdentity(join(dir, 'package.json'));
      if (identity !== undefined) return identity;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return {};
}

function readPackageIdentity(file: string): ServiceIdentity | undefined {
  try {
    const stat = statSync(file);
    if (!stat.isFile()) return undefined;
    if (stat.size > MAX_PACKAGE_JSON_BYTES) return {};
    const json: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (json === null || typeof json !== 'object') return {};
    const { name, version } = json as Record<string, unknown>;
    if (name === SCOPE_NAME) return {};
    const text = (value: unknown) =>
      typeof value === 'string' && /^[\p{L}\p{N}@_.:/+ -]{1,128}$/u.test(value) ? value : undefined;
    const n = text(name);
    const v = text(version);
    return { ...(n ? { name: n } : {}), ...(v ? { version: v } : {}) };
  } catch {
    return undefined;
  }
}

// In shared/ (node: built-ins only), so that the preload can ask before its loader hook exists.
export { isSidecarServer } from '../shared/entry.ts';
