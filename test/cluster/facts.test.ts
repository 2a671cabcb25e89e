/**
 * The facts of a real three-master Redis Cluster that perf-sidecar's cluster support is built on,
 * held against the cluster the test helpers start: keys that one command, script or pipeline
 * touches must share a hash slot (a hash tag makes them), and classic pub/sub reaches subscribers
 * on any node.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OwnRedisCluster } from '../helpers/redis-cluster.ts';
import { waitFor } from '../helpers/wait.ts';

describe('a local Redis Cluster of three masters', () => {
  let cluster: OwnRedisCluster;
  let client: Cluster;

  beforeAll(async () => {
    cluster = await OwnRedisCluster.start();
    client = new Cluster(cluster.startupNodes);
  }, 60_000);

  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  it('spreads slots over three masters', async () => {
    const slots = await client.cluster('SLOTS');
    expect(new Set(slots.map((s) => s[2]?.[1])).size).toBe(3);
  });

  it('runs a pipeline, a script and MGET over keys of one hash tag, and refuses them across slots', async () => {
    const pipeline = client.pipeline().set('{t}a', '1').set('{t}b', '2');
    expect((await pipeline.exec())?.map(([error]) => error)).toEqual([null, null]);
    expect(await client.mget('{t}a', '{t}b')).toEqual(['1', '2']);
    expect(await client.eval("return redis.call('GET', KEYS[2])", 2, '{t}a', '{t}b')).toBe('2');
    await expect(client.mget('a', 'b')).rejects.toThrow(/CROSSSLOT/);
    await expect(client.pipeline().get('a').get('b').get('c').exec()).rejects.toThrow(/same slots/);
  });

  it('delivers a published message to a subscriber connected to another node', async () => {
    const subscriber = client.duplicate();
    const got: string[] = [];
    subscriber.on('message', (_channel, message) => got.push(message));
    await subscriber.subscribe('perf-test-bus');
    await client.publish('perf-test-bus', 'hello');
    await waitFor(() => got.includes('hello'), { what: 'the message on the other connection' });
    subscriber.disconnect();
  });
});
