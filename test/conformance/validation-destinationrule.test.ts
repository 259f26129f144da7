/**
 * Istio's webhook validation cases for DestinationRule resources, ported as facts (each case's
 * configuration and whether Istio accepts it), one table per Istio test function. Each case runs
 * through meshgate's schema and field validation as a whole resource.
 */
import { describeIstioCases } from './validation-harness.js';

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateDestinationRule', [
  {
    name: 'simple destination rule',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    },
  },
  {
    name: 'simple destination rule with empty selector labels',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
      workloadSelector: {},
    },
  },
  {
    name: 'missing destination name',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: '',
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    },
  },
  {
    name: 'missing subset name',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      subsets: [
        { name: '', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    },
  },
  {
    name: 'duplicate subset names',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      subsets: [
        { name: 'foo', labels: { version: 'v1' } },
        { name: 'foo', labels: { version: 'v2' } },
      ],
    },
  },
  {
    name: 'valid traffic policy, top level',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { simple: 'ROUND_ROBIN' },
        connectionPool: { tcp: { maxConnections: 7 }, http: { http2MaxRequests: 11 } },
        outlierDetection: { minHealthPercent: 20 },
      },
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    },
  },
  {
    name: 'invalid traffic policy, top level',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { simple: 'ROUND_ROBIN' },
        connectionPool: {},
        outlierDetection: { minHealthPercent: 20 },
      },
      subsets: [
        { name: 'v1', labels: { version: 'v1' } },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    },
  },
  {
    name: 'valid traffic policy, subset level',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      subsets: [
        {
          name: 'v1',
          labels: { version: 'v1' },
          trafficPolicy: {
            loadBalancer: { simple: 'ROUND_ROBIN' },
            connectionPool: { tcp: { maxConnections: 7 }, http: { http2MaxRequests: 11 } },
            outlierDetection: { minHealthPercent: 20 },
          },
        },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    },
  },
  {
    name: 'invalid traffic policy, subset level',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      subsets: [
        {
          name: 'v1',
          labels: { version: 'v1' },
          trafficPolicy: {
            loadBalancer: { simple: 'ROUND_ROBIN' },
            connectionPool: {},
            outlierDetection: { minHealthPercent: 20 },
          },
        },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    },
  },
  {
    name: 'valid traffic policy, both levels',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { simple: 'ROUND_ROBIN' },
        connectionPool: { tcp: { maxConnections: 7 }, http: { http2MaxRequests: 11 } },
        outlierDetection: { minHealthPercent: 20 },
      },
      subsets: [
        {
          name: 'v1',
          labels: { version: 'v1' },
          trafficPolicy: {
            loadBalancer: { simple: 'ROUND_ROBIN' },
            connectionPool: { tcp: { maxConnections: 7 }, http: { http2MaxRequests: 11 } },
            outlierDetection: { minHealthPercent: 30 },
          },
        },
        { name: 'v2', labels: { version: 'v2' } },
      ],
    },
  },
  {
    name: 'InsecureSkipVerify is not specified with tls mode simple, and the ca cert is specified by CaCertificates',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        tls: { mode: 'SIMPLE', caCertificates: 'test', subjectAltNames: ['reviews.default.svc'] },
      },
    },
  },
  {
    name: 'InsecureSkipVerify is not specified with tls mode simple, and the ca cert is specified by CredentialName',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        tls: { mode: 'SIMPLE', credentialName: 'test', subjectAltNames: ['reviews.default.svc'] },
      },
    },
  },
  {
    name: 'InsecureSkipVerify is set false with tls mode simple, and the ca cert is specified by CaCertificates',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        tls: {
          mode: 'SIMPLE',
          caCertificates: 'test',
          subjectAltNames: ['reviews.default.svc'],
          insecureSkipVerify: false,
        },
      },
    },
  },
  {
    name: 'InsecureSkipVerify is set false with tls mode simple, and the ca cert is specified by CredentialName',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        tls: {
          mode: 'SIMPLE',
          credentialName: 'test',
          subjectAltNames: ['reviews.default.svc'],
          insecureSkipVerify: false,
        },
      },
    },
  },
  {
    name: 'InsecureSkipVerify is set true with tls mode simple, and the ca cert is specified by CaCertificates',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: { tls: { mode: 'SIMPLE', credentialName: 'test', insecureSkipVerify: true } },
    },
  },
  {
    name: 'InsecureSkipVerify is set true with tls mode simple, and the ca cert is specified by CredentialName',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: { tls: { mode: 'SIMPLE', caCertificates: 'test', insecureSkipVerify: true } },
    },
  },
  {
    name: 'InsecureSkipVerify is set true with tls mode simple, and the san is specified',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        tls: { mode: 'SIMPLE', subjectAltNames: ['reviews.default.svc'], insecureSkipVerify: true },
      },
    },
  },
  {
    name: 'InsecureSkipVerify is not specified with tls mode mutual, and the ca cert is specified by CaCertificates',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        tls: {
          mode: 'MUTUAL',
          caCertificates: 'test',
          privateKey: 'key',
          clientCertificate: 'cert',
          subjectAltNames: ['reviews.default.svc'],
        },
      },
    },
  },
  {
    name: 'InsecureSkipVerify is not specified with tls mode mutual, and the ca cert is specified by CredentialName',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        tls: { mode: 'MUTUAL', credentialName: 'test', subjectAltNames: ['reviews.default.svc'] },
      },
    },
  },
  {
    name: 'InsecureSkipVerify is set false with tls mode mutual, and the ca cert is specified by CaCertificates',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        tls: {
          mode: 'MUTUAL',
          caCertificates: 'test',
          privateKey: 'key',
          clientCertificate: 'cert',
          subjectAltNames: ['reviews.default.svc'],
          insecureSkipVerify: false,
        },
      },
    },
  },
  {
    name: 'InsecureSkipVerify is set false with tls mode mutual, and the ca cert is specified by CredentialName',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        tls: {
          mode: 'MUTUAL',
          credentialName: 'test',
          subjectAltNames: ['reviews.default.svc'],
          insecureSkipVerify: false,
        },
      },
    },
  },
  {
    name: 'InsecureSkipVerify is set true with tls mode mutual, and the ca cert is specified by CaCertificates',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        tls: {
          mode: 'MUTUAL',
          caCertificates: 'test',
          privateKey: 'key',
          clientCertificate: 'cert',
          insecureSkipVerify: true,
        },
      },
    },
  },
  {
    name: 'InsecureSkipVerify is set true with tls mode mutual, and the ca cert is specified by CaCertificates',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: { tls: { mode: 'MUTUAL', credentialName: 'test', insecureSkipVerify: true } },
    },
  },
  {
    name: 'InsecureSkipVerify is set true with tls mode mutual, and the ca cert is not specified',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        tls: { mode: 'MUTUAL', privateKey: 'key', clientCertificate: 'cert', insecureSkipVerify: true },
      },
    },
  },
  {
    name: 'InsecureSkipVerify is set true with tls mode mutual, and the san is specified',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        tls: {
          mode: 'MUTUAL',
          privateKey: 'key',
          clientCertificate: 'cert',
          subjectAltNames: ['reviews.default.svc'],
          insecureSkipVerify: true,
        },
      },
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateTrafficPolicy', [
  {
    name: 'valid traffic policy',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { simple: 'ROUND_ROBIN' },
        connectionPool: { tcp: { maxConnections: 7 }, http: { http2MaxRequests: 11 } },
        outlierDetection: { minHealthPercent: 20 },
      },
    },
  },
  {
    name: 'invalid traffic policy, nil entries',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: {} },
  },
  {
    name: 'invalid traffic policy, missing port in port level settings',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        portLevelSettings: [
          {
            loadBalancer: { simple: 'ROUND_ROBIN' },
            connectionPool: { tcp: { maxConnections: 7 }, http: { http2MaxRequests: 11 } },
            outlierDetection: { minHealthPercent: 20 },
          },
        ],
      },
    },
  },
  {
    name: 'invalid traffic policy, bad connection pool',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { simple: 'ROUND_ROBIN' },
        connectionPool: {},
        outlierDetection: { minHealthPercent: 20 },
      },
    },
  },
  {
    name: 'invalid traffic policy, bad max connection duration',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { simple: 'ROUND_ROBIN' },
        connectionPool: { tcp: { maxConnectionDuration: '0.0000005s' } },
      },
    },
  },
  {
    name: 'invalid traffic policy, panic threshold too low',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { simple: 'ROUND_ROBIN' },
        connectionPool: { tcp: { maxConnections: 7 }, http: { http2MaxRequests: 11 } },
        outlierDetection: { minHealthPercent: -1 },
      },
    },
  },
  {
    name: 'invalid traffic policy, both upgrade and use client protocol set',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: { connectionPool: { http: { h2UpgradePolicy: 'UPGRADE', useClientProtocol: true } } },
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateConnectionPool', [
  {
    name: 'valid connection pool, tcp and http',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        connectionPool: {
          tcp: { maxConnections: 7, connectTimeout: '2s' },
          http: {
            http1MaxPendingRequests: 2,
            http2MaxRequests: 11,
            maxRequestsPerConnection: 5,
            maxRetries: 4,
            idleTimeout: '30s',
            maxConcurrentStreams: 5,
          },
        },
      },
    },
  },
  {
    name: 'valid connection pool, tcp only',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: { connectionPool: { tcp: { maxConnections: 7, connectTimeout: '2s' } } },
    },
  },
  {
    name: 'valid connection pool, http only',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        connectionPool: {
          http: {
            http1MaxPendingRequests: 2,
            http2MaxRequests: 11,
            maxRequestsPerConnection: 5,
            maxRetries: 4,
            idleTimeout: '30s',
            maxConcurrentStreams: 5,
          },
        },
      },
    },
  },
  {
    name: 'valid connection pool, http only with empty idle timeout',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        connectionPool: {
          http: {
            http1MaxPendingRequests: 2,
            http2MaxRequests: 11,
            maxRequestsPerConnection: 5,
            maxRetries: 4,
            maxConcurrentStreams: 5,
          },
        },
      },
    },
  },
  {
    name: 'valid connection pool, http2 keepalive',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: { connectionPool: { http: { http2KeepAlive: { interval: '15s', timeout: '5s' } } } },
    },
  },
  {
    name: 'invalid connection pool, empty',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { connectionPool: {} } },
  },
  {
    name: 'invalid connection pool, bad max connections',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { connectionPool: { tcp: { maxConnections: -1 } } } },
  },
  {
    name: 'invalid connection pool, bad connect timeout',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { connectionPool: { tcp: { connectTimeout: '2.000000005s' } } } },
  },
  {
    name: 'invalid connection pool, bad max pending requests',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { connectionPool: { http: { http1MaxPendingRequests: -1 } } } },
  },
  {
    name: 'invalid connection pool, bad max requests',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { connectionPool: { http: { http2MaxRequests: -1 } } } },
  },
  {
    name: 'invalid connection pool, bad max requests per connection',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { connectionPool: { http: { maxRequestsPerConnection: -1 } } } },
  },
  {
    name: 'invalid connection pool, bad max retries',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { connectionPool: { http: { maxRetries: -1 } } } },
  },
  {
    name: 'invalid connection pool, bad idle timeout',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { connectionPool: { http: { idleTimeout: '30.000000005s' } } } },
  },
  {
    name: 'valid connection pool, tcp timeout disabled',
    valid: true,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { connectionPool: { tcp: { idleTimeout: '0s' } } } },
  },
  {
    name: 'invalid connection pool, bad max concurrent streams',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { connectionPool: { http: { maxConcurrentStreams: -1 } } } },
  },
  {
    name: 'invalid connection pool, http2 keepalive without interval',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: { connectionPool: { http: { http2KeepAlive: { timeout: '5s' } } } },
    },
  },
  {
    name: 'invalid connection pool, http2 keepalive without timeout',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: { connectionPool: { http: { http2KeepAlive: { interval: '15s' } } } },
    },
  },
  {
    name: 'invalid connection pool, bad http2 keepalive interval',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        connectionPool: { http: { http2KeepAlive: { interval: '15.000000005s', timeout: '5s' } } },
      },
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateLoadBalancer', [
  {
    name: 'valid load balancer with simple load balancing',
    valid: true,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { loadBalancer: { simple: 'ROUND_ROBIN' } } },
  },
  {
    name: 'valid load balancer with consistentHash load balancing',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: {
          consistentHash: { minimumRingSize: 1024, httpCookie: { name: 'test', ttl: '3600s' } },
        },
      },
    },
  },
  {
    name: 'invalid load balancer with consistentHash load balancing, missing name',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { consistentHash: { minimumRingSize: 1024, httpCookie: { ttl: '3600s' } } },
      },
    },
  },
  {
    name: 'invalid load balancer with consistentHash load balancing, maglev not prime',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: { loadBalancer: { consistentHash: { maglev: { tableSize: 1000 } } } },
    },
  },
  {
    name: 'valid load balancer with consistentHash load balancing and unique cookie attributes',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: {
          consistentHash: {
            httpCookie: {
              name: 'test-cookie',
              ttl: '3600s',
              attributes: [
                { name: 'SameSite', value: 'Strict' },
                { name: 'Secure', value: 'true' },
                { name: 'HttpOnly', value: 'true' },
              ],
            },
          },
        },
      },
    },
  },
  {
    name: 'invalid load balancer with consistentHash load balancing and duplicate cookie attribute names',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: {
          consistentHash: {
            httpCookie: {
              name: 'test-cookie',
              ttl: '3600s',
              attributes: [
                { name: 'SameSite', value: 'Strict' },
                { name: 'SameSite', value: 'Lax' },
                { name: 'Secure', value: 'true' },
              ],
            },
          },
        },
      },
    },
  },
  {
    name: 'invalid load balancer with consistentHash load balancing and empty cookie attribute name',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: {
          consistentHash: {
            httpCookie: {
              name: 'test-cookie',
              ttl: '3600s',
              attributes: [
                { name: 'SameSite', value: 'Strict' },
                { name: '', value: 'some-value' },
                { name: 'Secure', value: 'true' },
              ],
            },
          },
        },
      },
    },
  },
  {
    name: 'invalid: localityLbSetting and zoneAwareLbSetting both set',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: { loadBalancer: { localityLbSetting: {}, zoneAwareLbSetting: {} } },
    },
  },
  {
    name: 'valid: zoneAwareLbSetting only',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: {
        loadBalancer: { zoneAwareLbSetting: { failover: [{ from: 'us-east', to: 'eu-west' }] } },
      },
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateOutlierDetection', [
  {
    name: 'valid outlier detection',
    valid: true,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      trafficPolicy: { outlierDetection: { interval: '2s', baseEjectionTime: '2s', maxEjectionPercent: 50 } },
    },
  },
  {
    name: 'invalid outlier detection, bad interval',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { outlierDetection: { interval: '2.000000005s' } } },
  },
  {
    name: 'invalid outlier detection, bad base ejection time',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { outlierDetection: { baseEjectionTime: '2.000000005s' } } },
  },
  {
    name: 'invalid outlier detection, bad max ejection percent',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { outlierDetection: { maxEjectionPercent: 105 } } },
  },
  {
    name: 'invalid outlier detection, panic threshold too low',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { outlierDetection: { minHealthPercent: -1 } } },
  },
  {
    name: 'invalid outlier detection, panic threshold too high',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { outlierDetection: { minHealthPercent: 101 } } },
  },
  {
    name: 'deprecated outlier detection, ConsecutiveErrors',
    valid: true,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { outlierDetection: { consecutiveErrors: 101 } } },
  },
  {
    name: 'consecutive local origin errors is set but split local origin errors is not set',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', trafficPolicy: { outlierDetection: { consecutiveLocalOriginFailures: 10 } } },
  },
]);
