/**
 * The mapping of the SQLAlchemy-style pool settings (DB_POOL_SIZE, ...) onto pg's Pool, and the
 * names OpenTelemetry gives the pool and the server.
 *
 * | SQLAlchemy      | pg Pool                                                    |
 * | --------------- | ---------------------------------------------------------- |
 * | `pool_size`     | `min` (kept open) ; `max` = pool_size + max_overflow       |
 * | `max_overflow`  | the part of `max` above `min`, closed after `idleTimeoutMillis` |
 * | `pool_timeout`  | `connectionTimeoutMillis` (never 0: pg would wait forever) |
 * | `pool_recycle`  | `maxLifetimeSeconds`                                       |
 * | `pool_pre_ping` | the service's own check of connections idle past a threshold |
 */
import type { Attributes } from '@opentelemetry/api';
import type { PoolConfig } from 'pg';
import type { DatabaseSettings } from './options.ts';
import {
  ATTR_DB_NAMESPACE,
  ATTR_DB_SYSTEM_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from './semconv.ts';

/** Host, port and database named by a PostgreSQL URL (pg's defaults filled in). */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly database: string;
}

/** The endpoint of a URL; the database defaults to the user name, as in libpq, then `postgres`. */
export function endpointOf(url: string): Endpoint {
  const parsed = new URL(url);
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(parsed.port || 5432),
    database:
      decodeURIComponent(parsed.pathname.replace(/^\//, '')) ||
      decodeURIComponent(parsed.username) ||
      'postgres',
  };
}

/**
 * The pool name of the OpenTelemetry conventions, `host:port/database`, as instrumentation-pg
 * derives it, so that both sets of pool metrics carry the same name.
 */
export function poolNameOf(endpoint: Endpoint): string {
  return `${endpoint.host}:${endpoint.port}/${endpoint.database}`;
}

/** The attributes of every span of a service on this endpoint: database system, namespace, server. */
export function serverAttributesOf(endpoint: Endpoint): Attributes {
  return Object.freeze({
    [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
    [ATTR_DB_NAMESPACE]: endpoint.database,
    [ATTR_SERVER_ADDRESS]: endpoint.host,
    [ATTR_SERVER_PORT]: endpoint.port,
  });
}

/**
 * The pg Pool options for the settings (see the module comment for the mapping).
 *
 * Host, port and database are passed next to the connection string only so that
 * instrumentation-pg names the pool `host:port/database` instead of `unknown_host:...`; pg itself
 * takes them from the connection string.
 */
export function poolConfig(settings: DatabaseSettings, url: string): PoolConfig {
  const config: PoolConfig = {
    connectionString: url,
    ...endpointOf(url),
    min: settings.poolSize,
    max: settings.poolSize + settings.maxOverflow,
    idleTimeoutMillis: Math.max(1, Math.round(settings.overflowIdleSeconds * 1000)),
    connectionTimeoutMillis: Math.max(1, Math.round(settings.poolTimeoutSeconds * 1000)),
    maxLifetimeSeconds: settings.poolRecycleSeconds,
    application_name: settings.applicationName,
    pipeline: settings.pipeline,
  };
  if (settings.statementTimeoutSeconds !== undefined) {
    config.statement_timeout = Math.max(1, Math.round(settings.statementTimeoutSeconds * 1000));
  }
  return config;
}
