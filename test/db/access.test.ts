/**
 * System catalogues are not readable through the lookups (pg_authid holds password hashes), whatever
 * the spelling or the search path; allow-lists of schemas and tables, from options or from the
 * environment, narrow or widen what is readable. Against the real PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  configuredDatabaseOptions,
  createDatabase,
  type Database,
  TableNotAllowedError,
} from '../../src/db/index.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import {
  countCheckouts,
  createUsers,
  dropSchema,
  testConfig,
  testDatabase,
  USERS,
  uniqueSchema,
} from '../helpers/db.ts';
import { TEST_DATABASE_URL } from '../helpers/env.ts';
import { rejectionOf } from '../helpers/expect.ts';

const schema = uniqueSchema();
const other = uniqueSchema();
const opened: Database[] = [];

beforeAll(async () => {
  await createUsers(schema);
  await createUsers(other);
});

afterAll(async () => {
  await Promise.all(opened.map((db) => db.close()));
  await dropSchema(schema);
  await dropSchema(other);
});

async function open(options: Parameters<typeof testDatabase>[0] = {}): Promise<Database> {
  const db = await testDatabase({ poolSize: 1, maxOverflow: 1, ...options });
  opened.push(db);
  return db;
}

/** A service whose connections run with `search_path` set to `path`. */
async function withSearchPath(path: string): Promise<Database> {
  const url = `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${path}`)}`;
  const db = await createDatabase({ url, poolSize: 1, maxOverflow: 0 });
  opened.push(db);
  return db;
}

function refused(promise: Promise<unknown>): Promise<TableNotAllowedError> {
  return rejectionOf(promise, TableNotAllowedError);
}

describe('system schemas', () => {
  it('refuses pg_catalog.pg_authid before any SQL runs, naming the table and what is allowed', async () => {
    const db = await open();
    const checkouts = countCheckouts(db);
    const error = await refused(db.getById('pg_catalog.pg_authid', 10));
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.code).toBe('PERF_INVALID_ARGUMENT');
    expect(error.table).toBe('pg_catalog.pg_authid');
    expect(error.message).toBe(
      'table: "pg_catalog.pg_authid" is in the system schema "pg_catalog": lookups may not read it; ' +
        'expected a table outside the system schemas (pg_catalog, information_schema, pg_toast, pg_temp_*, ' +
        'pg_toast_temp_* or any other pg_* schema); allowedSchemas / allowedTables (DB_ALLOWED_SCHEMAS / ' +
        'DB_ALLOWED_TABLES) widen or narrow this',
    );
    expect(checkouts.count).toBe(0);
    expect(db.stats().statements).toBe(0);
  });

  it('refuses every system schema and spelling in getById and getByFilter', async () => {
    const db = await open();
    const checkouts = countCheckouts(db);
    const names = [
      'pg_catalog.pg_authid',
      'pg_catalog.pg_shadow',
      'pg_catalog.pg_settings',
      'pg_catalog.pg_class',
      'information_schema.tables',
      'information_schema.role_table_grants',
      'pg_toast.pg_toast_1260',
      'pg_temp.anything',
      'pg_temp_3.anything',
      'pg_toast_temp_3.anything',
      'PG_CATALOG.pg_authid',
      'Pg_Catalog.pg_shadow',
      'INFORMATION_SCHEMA.tables',
    ];
    for (const name of names) {
      await refused(db.getById(name, 10));
      await refused(db.getByFilter(name, {}));
      await refused(db.getByFilter(name, { rolname: 'postgres' }, { limit: 1 }));
    }
    expect(checkouts.count).toBe(0);
    // Quoting is not a way around it: quoted names are not plain table names at all.
    await rejectionOf(db.getById('"pg_catalog".pg_authid', 10), InvalidArgumentError);
  });

  it('refuses what an unqualified name resolves to, whatever the search path says', async () => {
    const catalog = await withSearchPath('pg_catalog');
    for (const name of ['pg_authid', 'pg_shadow', 'pg_settings', 'pg_roles']) {
      const error = await refused(catalog.getByFilter(name, {}));
      expect(error.message).toMatch(
        new RegExp(
          `^table: "${name}" resolves to pg_catalog\\.${name}, which is in the system schema "pg_catalog"`,
        ),
      );
      expect(error.table).toBe(`pg_catalog.${name}`);
    }
    await refused(catalog.getById('pg_authid', 10));
    const info = await withSearchPath(`"$user",information_schema,${schema}`);
    await refused(info.getByFilter('tables', {}));
    // A table of the app further down the same search path is still served.
    expect(await info.getById('users', 1)).toEqual(USERS[0]);
  });

  it('still reads the app schemas by default', async () => {
    const db = await open();
    expect(await db.getById(`${schema}.users`, 2)).toEqual(USERS[1]);
    expect(await db.getByFilter(`${other}.users`, { team: 'red' }, { limit: 1 })).toHaveLength(1);
  });
});

describe('allow-lists', () => {
  it('allowedSchemas: only tables of those schemas', async () => {
    const db = await open({ allowedSchemas: [schema] });
    expect(await db.getById(`${schema}.users`, 1)).toEqual(USERS[0]);
    const error = await refused(db.getById(`${other}.users`, 1));
    expect(error.message).toBe(
      `table: "${other}.users" is not in the allow-list: lookups may not read it; expected a table in an allowed schema (${schema}); allowedSchemas / allowedTables (DB_ALLOWED_SCHEMAS / DB_ALLOWED_TABLES) widen or narrow this`,
    );
    await refused(db.getById('pg_catalog.pg_authid', 10));
  });

  it('allowedTables: only those tables, and a system table only when listed by name', async () => {
    const db = await open({ allowedTables: [`${other}.users`, 'pg_catalog.pg_settings'] });
    expect(await db.getById(`${other}.users`, 3)).toEqual(USERS[2]);
    await refused(db.getById(`${schema}.users`, 3));
    const settings = await db.getByFilter<{ name: string }>(
      'pg_catalog.pg_settings',
      { name: 'max_connections' },
      { limit: 1 },
    );
    expect(settings.map((s) => s.name)).toEqual(['max_connections']);
    await refused(db.getById('pg_catalog.pg_authid', 10));
    await refused(db.getByFilter('pg_catalog.pg_shadow', {}));
  });

  it('reads DB_ALLOWED_SCHEMAS and DB_ALLOWED_TABLES from the configuration', async () => {
    const config = testConfig({ DB_ALLOWED_SCHEMAS: ` ${other} `, DB_ALLOWED_TABLES: `${schema}.users` });
    const db = await createDatabase({
      ...configuredDatabaseOptions(config),
      url: TEST_DATABASE_URL,
      poolSize: 1,
    });
    opened.push(db);
    expect(await db.getById(`${other}.users`, 4)).toEqual(USERS[3]);
    expect(await db.getById(`${schema}.users`, 4)).toEqual(USERS[3]);
    await refused(db.getById('pg_catalog.pg_authid', 10));
    expect(() => testConfig({ DB_ALLOWED_TABLES: 'users' })).toThrow(
      /DB_ALLOWED_TABLES: "users" holds a name that is not a schema\.table name/,
    );
  });

  it('refuses bad allow-list options, naming them', async () => {
    await expect(testDatabase({ allowedSchemas: [] })).rejects.toThrow(
      'options.allowedSchemas: is an array of 0; expected an array of 1 to 1000 schema names',
    );
    await expect(testDatabase({ allowedSchemas: ['a;b'] })).rejects.toThrow(
      'options.allowedSchemas[0]: "a;b" is not a plain schema name',
    );
    await expect(testDatabase({ allowedTables: ['users'] })).rejects.toThrow(
      'options.allowedTables[0]: "users" is not schema-qualified; expected a schema.table name',
    );
  });
});
