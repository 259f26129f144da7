/**
 * Consistent-hash tables (RING_HASH, MAGLEV) are built when the cluster manager adopts a snapshot,
 * not by the first request after it; pools are created on first use, not per endpoint at reload.
 */
import { describe, expect, it } from 'vitest';
import { buildSnapshot } from '../../config/snapshot.js';
import { ClusterManager } from '../../upstream/cluster-manager.js';
import { ConsistentHashBalancer } from '../../upstream/consistent-hash.js';
import { Maglev } from '../../upstream/maglev.js';
import { RingHash } from '../../upstream/ring-hash.js';
import { res, serviceEntry } from '../helpers/resources.js';

const ENDPOINTS = Array.from({ length: 40 }, (_, i) => ({ port: 9000 + i }));

function snapshotWith(consistentHash: Record<string, unknown>) {
  const resources = [
    res('Gateway', 'gw', {
      servers: [{ port: { number: 80, name: 'http', protocol: 'HTTP' }, hosts: ['*'] }],
    }),
    res('VirtualService', 'hashed', {
      hosts: ['*'],
      gateways: ['gw'],
      http: [{ route: [{ destination: { host: 'hashed.example.internal', port: { number: 80 } } }] }],
    }),
    serviceEntry('hashed.example.internal', 80, ENDPOINTS),
    res('DestinationRule', 'hashed', {
      host: 'hashed.example.internal',
      trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user', ...consistentHash } } },
    }),
  ];
  const { snapshot, diagnostics } = buildSnapshot(resources);
  expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  return snapshot;
}

describe.each([
  { name: 'RING_HASH', ch: { ringHash: { minimumRingSize: 1024 } }, type: RingHash },
  { name: 'MAGLEV', ch: { maglev: { tableSize: 65537 } }, type: Maglev },
])('$name table at reconcile', ({ ch, type }) => {
  it('is built for the healthy endpoints before the first pick, and picks agree after', async () => {
    const cm = new ClusterManager();
    const snapshot = snapshotWith(ch);
    cm.reconcile(snapshot);
    const cluster = [...snapshot.clusters.values()].find((c) => c.endpoints.length === ENDPOINTS.length)!;
    const state = cm.get(cluster)!;
    expect(state.lb).toBeInstanceOf(type);
    const lb = state.lb as ConsistentHashBalancer;
    expect(lb.isPreparedFor(state.healthy)).toBe(true);
    // The same hash keeps its endpoint, and picking did not replace the table.
    const first = state.pick(undefined, 123456789);
    expect(state.pick(undefined, 123456789)).toBe(first);
    expect(lb.isPreparedFor(state.healthy)).toBe(true);
    // No request was sent: no endpoint created a connection pool.
    expect(state.endpoints.every((e) => !e.hasPool)).toBe(true);
    await cm.close();
  });
});
