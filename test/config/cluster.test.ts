/**
 * DestinationRule resolution (istio-semantics.md §3.1–3.2): host precedence, merging of several
 * rules for one host, subset policy overriding the top level per block, and portLevelSettings
 * replacing blocks wholesale (Istio `MergeSubsetTrafficPolicy`).
 */
import { describe, expect, it } from 'vitest';
import { ClusterResolver, effectivePolicy } from '../../config/cluster.js';
import { buildRegistry } from '../../config/registry.js';
import type { Resource, TrafficPolicy } from '../../config/resources.js';
import { validateResources } from '../../config/validate.js';
import { res, serviceEntry } from '../helpers/resources.js';

const LR: TrafficPolicy['loadBalancer'] = { simple: 'LEAST_REQUEST' };
const RR: TrafficPolicy['loadBalancer'] = { simple: 'ROUND_ROBIN' };
const POOL_1 = { tcp: { maxConnections: 1 } };
const POOL_9 = { tcp: { maxConnections: 9 } };
const OD = { consecutive5xxErrors: 3 };

describe('effectivePolicy', () => {
  it('keeps the top level when there is no subset policy', () => {
    expect(effectivePolicy({ loadBalancer: RR, connectionPool: POOL_1 }, undefined, 80)).toEqual({
      loadBalancer: RR,
      connectionPool: POOL_1,
    });
  });

  it('lets a subset override the top level per block', () => {
    const p = effectivePolicy(
      { loadBalancer: RR, connectionPool: POOL_1, outlierDetection: OD },
      { connectionPool: POOL_9 },
      80,
    );
    expect(p).toEqual({ loadBalancer: RR, connectionPool: POOL_9, outlierDetection: OD });
  });

  it('replaces the top-level blocks wholesale with matching port-level settings', () => {
    const top: TrafficPolicy = {
      loadBalancer: RR,
      connectionPool: POOL_1,
      portLevelSettings: [{ port: { number: 9080 }, outlierDetection: OD }],
    };
    // Port 9080: only the port-level block; loadBalancer and connectionPool fall back to defaults.
    expect(effectivePolicy(top, undefined, 9080)).toEqual({ outlierDetection: OD });
    // Another port: the destination-level blocks.
    expect(effectivePolicy(top, undefined, 80)).toEqual({ loadBalancer: RR, connectionPool: POOL_1 });
  });

  it('merges a subset over the port-level view of the top level', () => {
    const top: TrafficPolicy = {
      loadBalancer: RR,
      portLevelSettings: [{ port: { number: 9080 }, connectionPool: POOL_1 }],
    };
    expect(effectivePolicy(top, { loadBalancer: LR }, 9080)).toEqual({
      connectionPool: POOL_1,
      loadBalancer: LR,
    });
  });

  it('takes every block from subset port-level settings, set or not', () => {
    const top: TrafficPolicy = { loadBalancer: RR, connectionPool: POOL_1, outlierDetection: OD };
    const subset: TrafficPolicy = {
      connectionPool: POOL_9,
      portLevelSettings: [{ port: { number: 9080 }, loadBalancer: LR }],
    };
    expect(effectivePolicy(top, subset, 9080)).toEqual({ loadBalancer: LR });
    expect(effectivePolicy(top, subset, 80)).toEqual({
      loadBalancer: RR,
      connectionPool: POOL_9,
      outlierDetection: OD,
    });
  });
});

function resolver(resources: Resource[]) {
  return new ClusterResolver(buildRegistry(resources), resources);
}

describe('ClusterResolver', () => {
  const ses = [
    serviceEntry('reviews.example.com', 9080, [
      { version: 'v1', port: 1001 },
      { version: 'v2', port: 1002 },
    ]),
  ];

  it('prefers an exact DestinationRule host over a wildcard, and the longest wildcard over a shorter one', () => {
    const r = resolver([
      ...ses,
      res('DestinationRule', 'any', { host: '*.com', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }),
      res('DestinationRule', 'wild', { host: '*.example.com', trafficPolicy: { loadBalancer: RR } }),
      res('DestinationRule', 'exact', { host: 'reviews.example.com', trafficPolicy: { loadBalancer: LR } }),
    ]);
    expect(r.resolve({ host: 'reviews.example.com' }, 'default', 80).cluster?.lbPolicy).toBe('LEAST_REQUEST');
    const r2 = resolver([
      ...ses,
      res('DestinationRule', 'any', { host: '*.com', trafficPolicy: { loadBalancer: { simple: 'RANDOM' } } }),
      res('DestinationRule', 'wild', { host: '*.example.com', trafficPolicy: { loadBalancer: RR } }),
    ]);
    expect(r2.resolve({ host: 'reviews.example.com' }, 'default', 80).cluster?.lbPolicy).toBe('ROUND_ROBIN');
  });

  it('merges DestinationRules for one host: subsets concatenated, first top-level policy, first subset name', () => {
    const r = resolver([
      ...ses,
      res('DestinationRule', 'a', {
        host: 'reviews.example.com',
        subsets: [{ name: 'v1', labels: { version: 'v1' } }],
      }),
      res('DestinationRule', 'b', {
        host: 'reviews.example.com',
        trafficPolicy: { loadBalancer: RR },
        subsets: [
          { name: 'v1', labels: { version: 'v2' } },
          { name: 'v2', labels: { version: 'v2' } },
        ],
      }),
      res('DestinationRule', 'c', {
        host: 'reviews.example.com',
        trafficPolicy: { loadBalancer: { simple: 'RANDOM' } },
      }),
    ]);
    const v1 = r.resolve({ host: 'reviews.example.com', subset: 'v1' }, 'default', 80).cluster!;
    expect(v1.endpoints.map((e) => e.port)).toEqual([1001]);
    // The first DR had no top-level policy, so the second one's applies (Istio mergeDestinationRule).
    expect(v1.lbPolicy).toBe('ROUND_ROBIN');
    expect(
      r.resolve({ host: 'reviews.example.com', subset: 'v2' }, 'default', 80).cluster?.endpoints,
    ).toHaveLength(1);
  });

  it('filters subset endpoints by labels and applies the subset policy and port-level settings', () => {
    const r = resolver([
      ...ses,
      res('DestinationRule', 'reviews', {
        host: 'reviews.example.com',
        trafficPolicy: {
          connectionPool: POOL_9,
          portLevelSettings: [{ port: { number: 9080 }, loadBalancer: RR }],
        },
        subsets: [{ name: 'v2', labels: { version: 'v2' }, trafficPolicy: { outlierDetection: OD } }],
      }),
    ]);
    const c = r.resolve(
      { host: 'reviews.example.com', subset: 'v2', port: { number: 9080 } },
      'default',
      80,
    ).cluster!;
    expect(c.name).toBe('outbound|9080|v2|reviews.example.com');
    expect(c.endpoints.map((e) => e.port)).toEqual([1002]);
    // Port-level settings replaced the top level wholesale (no connectionPool); subset adds outlierDetection.
    expect(c.policy).toEqual({ loadBalancer: RR, outlierDetection: OD });
    expect(c.lbPolicy).toBe('ROUND_ROBIN');
  });

  it('reports unknown subsets and ports (503 NC)', () => {
    const r = resolver([...ses]);
    expect(r.resolve({ host: 'reviews.example.com', subset: 'v3' }, 'default', 80).missing).toBe(
      'unknown-subset',
    );
    expect(r.resolve({ host: 'reviews.example.com', port: { number: 1 } }, 'default', 80).missing).toBe(
      'unknown-port',
    );
  });

  it('maps consistentHash to CONSISTENT_HASH and LEAST_CONN to LEAST_REQUEST', () => {
    const r = resolver([
      ...ses,
      res('DestinationRule', 'reviews', {
        host: 'reviews.example.com',
        trafficPolicy: { loadBalancer: { simple: 'LEAST_CONN' } },
        subsets: [
          {
            name: 'v1',
            labels: { version: 'v1' },
            trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: 'x-user' } } },
          },
        ],
      }),
    ]);
    expect(r.resolve({ host: 'reviews.example.com' }, 'default', 80).cluster?.lbPolicy).toBe('LEAST_REQUEST');
    expect(r.resolve({ host: 'reviews.example.com', subset: 'v1' }, 'default', 80).cluster?.lbPolicy).toBe(
      'CONSISTENT_HASH',
    );
  });
});

/** Issue 5 acceptance "bad input": conflicting traffic-policy values are rejected by validation. */
describe('validation of traffic-policy values', () => {
  const errors = (r: Resource) =>
    validateResources([r])
      .filter((d) => d.severity === 'error')
      .map((d) => `${d.path}: ${d.message}`);

  it('rejects negative connection-pool limits and out-of-range outlier percentages', () => {
    const e = errors(
      res('DestinationRule', 'bad', {
        host: 'httpbin',
        trafficPolicy: {
          connectionPool: {
            tcp: { maxConnections: -1 },
            http: { http1MaxPendingRequests: -5, maxRetries: -2 },
          },
          outlierDetection: { consecutive5xxErrors: -1, maxEjectionPercent: 150 },
        },
      }),
    );
    expect(e).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/connectionPool\.tcp\.maxConnections: must be >= 0 \(got -1\)/),
        expect.stringMatching(/connectionPool\.http\.http1MaxPendingRequests: must be >= 0/),
        expect.stringMatching(/connectionPool\.http\.maxRetries: must be >= 0/),
        expect.stringMatching(/outlierDetection\.consecutive5xxErrors: must be >= 0/),
        expect.stringMatching(/outlierDetection\.maxEjectionPercent: must be between 0 and 100 \(got 150\)/),
      ]),
    );
  });

  it('rejects a Maglev table size that is not prime and a negative ring size', () => {
    const lb = (consistentHash: object) =>
      errors(
        res('DestinationRule', 'lb', {
          host: 'httpbin',
          trafficPolicy: { loadBalancer: { consistentHash } },
        }),
      );
    expect(lb({ httpHeaderName: 'x', maglev: { tableSize: 100 } })).toEqual([
      expect.stringMatching(
        /maglev\.tableSize: maglev tableSize must be a prime number below 5000011 \(got 100\)/,
      ),
    ]);
    expect(lb({ httpHeaderName: 'x', maglev: { tableSize: 65537 } })).toEqual([]);
    expect(lb({ httpHeaderName: 'x', ringHash: { minimumRingSize: -1 } })).toEqual([
      expect.stringMatching(/ringHash\.minimumRingSize: must be >= 0/),
    ]);
  });

  it('rejects mirror together with mirrors; accepts relative weights over 100 (Istio weights are relative)', () => {
    const vs = (http: object[]) => errors(res('VirtualService', 'vs', { hosts: ['a.example.com'], http }));
    expect(
      vs([
        {
          route: [{ destination: { host: 'a.example.com' } }],
          mirror: { host: 'b.example.com' },
          mirrors: [{ destination: { host: 'c.example.com' } }],
        },
      ]),
    ).toEqual([expect.stringMatching(/mirrors: mirror and mirrors cannot both be set/)]);
    expect(
      vs([
        {
          route: [
            { destination: { host: 'a.example.com' }, weight: 150 },
            { destination: { host: 'b.example.com' }, weight: 50 },
          ],
        },
      ]),
    ).toEqual([]);
    expect(
      vs([
        {
          route: [
            { destination: { host: 'a.example.com' }, weight: -1 },
            { destination: { host: 'b.example.com' }, weight: 0 },
          ],
        },
      ]),
    ).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/weight: weight must be >= 0/),
        expect.stringMatching(/total destination weight = 0/),
      ]),
    );
  });
});
