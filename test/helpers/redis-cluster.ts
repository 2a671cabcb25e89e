/**
 * A Redis Cluster of the test's own: three masters (Debian's redis-server 7 with
 * `--cluster-enabled yes`) on spare loopback ports, joined with `redis-cli --cluster create`, each
 * node stopped by its PID. For the tests of what perf-sidecar claims to do on a cluster.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, stopProcess } from './redis-server.ts';
import { waitFor } from './wait.ts';

const run = promisify(execFile);

/** One node of an {@link OwnRedisCluster}. */
export interface ClusterNode {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly process: ChildProcess;
}

/** A three-master cluster the test controls. */
export class OwnRedisCluster {
  readonly nodes: ClusterNode[];
  readonly #dir: string;

  private constructor(nodes: ClusterNode[], dir: string) {
    this.nodes = nodes;
    this.#dir = dir;
  }

  /** The seed nodes, as ioredis `Cluster` takes them. */
  get startupNodes(): { host: string; port: number }[] {
    return this.nodes.map(({ host, port }) => ({ host, port }));
  }

  /** Starts three nodes, joins them into one cluster and waits until every node says it is ok. */
  static async start(): Promise<OwnRedisCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'perf-sidecar-cluster-'));
    const nodes: ClusterNode[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        // The cluster bus listens on port + 10000: pick ports whose bus port is free too.
        let port = await freePort();
        while (port + 10_000 > 65_535) port = await freePort();
        const child = spawn(
          'redis-server',
          [
            '--port',
            String(port),
            '--bind',
            '127.0.0.1',
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout',
            '2000',
            '--save',
            '',
            '--appendonly',
            'no',
            '--dir',
            dir,
          ],
          { stdio: 'ignore' },
        );
        nodes.push({ host: '127.0.0.1', port, process: child });
      }
      for (const node of nodes) {
        await waitFor(
          async () => {
            const client = new Redis({ port: node.port, lazyConnect: true, maxRetriesPerRequest: 0 });
            try {
              await client.connect();
              return (await client.ping()) === 'PONG';
            } finally {
              client.disconnect();
            }
          },
          { what: `cluster node ${node.port} answering` },
        );
      }
      await run('redis-cli', [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-yes',
      ]);
      const cluster = new OwnRedisCluster(nodes, dir);
      await cluster.waitOk();
      return cluster;
    } catch (error) {
      for (const node of nodes) await stopProcess(node.process, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Waits until every running node reports `cluster_state:ok`. */
  async waitOk(timeoutMs = 20_000): Promise<void> {
    for (const node of this.nodes) {
      if (node.process.exitCode !== null || node.process.signalCode !== null) continue;
      await waitFor(
        async () => {
          const client = new Redis({ port: node.port, lazyConnect: true, maxRetriesPerRequest: 0 });
          try {
            await client.connect();
            return (await client.cluster('INFO')).includes('cluster_state:ok');
          } finally {
            client.disconnect();
          }
        },
        { what: `cluster node ${node.port} in state ok`, timeoutMs, intervalMs: 100 },
      );
    }
  }

  /** Stops every node (SIGKILL: nothing is persisted) and removes their files. */
  async stop(): Promise<void> {
    for (const node of this.nodes) await stopProcess(node.process, 'SIGKILL');
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
