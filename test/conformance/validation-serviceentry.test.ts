/**
 * Istio's webhook validation cases for ServiceEntry and WorkloadEntry resources, ported as facts (each case's
 * configuration and whether Istio accepts it), one table per Istio test function. Each case runs
 * through meshgate's schema and field validation as a whole resource.
 */
import { describeIstioCases } from './validation-harness.js';

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateServiceEntries', [
  {
    name: 'discovery type DNS',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.google.com'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      endpoints: [
        { address: 'lon.google.com', ports: { 'http-valid1': 8080 } },
        { address: 'in.google.com', ports: { 'http-valid2': 9080 } },
      ],
      resolution: 'DNS',
    },
  },
  {
    name: 'discovery type DNS Round Robin',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.istio.io'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      endpoints: [{ address: 'api-v1.istio.io', ports: { 'http-valid1': 8080 } }],
      resolution: 'DNS_ROUND_ROBIN',
    },
  },
  {
    name: 'discovery type DNS, label tlsMode: istio',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.google.com'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      endpoints: [
        {
          address: 'lon.google.com',
          ports: { 'http-valid1': 8080 },
          labels: { 'security.istio.io/tlsMode': 'istio' },
        },
        {
          address: 'in.google.com',
          ports: { 'http-valid2': 9080 },
          labels: { 'security.istio.io/tlsMode': 'istio' },
        },
      ],
      resolution: 'DNS',
    },
  },
  {
    name: 'discovery type DNS, one host set with IP address and https port',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['httpbin.org'],
      addresses: ['10.10.10.10'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
        { number: 443, protocol: 'https', name: 'https' },
      ],
      resolution: 'DNS',
    },
  },
  {
    name: 'discovery type DNS, multi hosts set with IP address and https port',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['httpbin.org', 'wikipedia.org'],
      addresses: ['10.10.10.10'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
        { number: 443, protocol: 'https', name: 'https' },
      ],
      resolution: 'DNS',
    },
  },
  {
    name: 'discovery type DNS, IP address set',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.google.com'],
      addresses: ['10.10.10.10'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      endpoints: [
        { address: 'lon.google.com', ports: { 'http-valid1': 8080 } },
        { address: 'in.google.com', ports: { 'http-valid2': 9080 } },
      ],
      resolution: 'DNS',
    },
  },
  {
    name: 'discovery type DNS, IP in endpoints',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.google.com'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      endpoints: [
        { address: '1.1.1.1', ports: { 'http-valid1': 8080 } },
        { address: 'in.google.com', ports: { 'http-valid2': 9080 } },
      ],
      resolution: 'DNS',
    },
  },
  {
    name: 'discovery type DYNAMIC_DNS',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.google.com'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      resolution: 'DYNAMIC_DNS',
    },
  },
  {
    name: 'empty hosts',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
      endpoints: [{ address: 'in.google.com', ports: { 'http-valid2': 9080 } }],
      resolution: 'DNS',
    },
  },
  {
    name: 'bad hosts',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['-'],
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
      endpoints: [{ address: 'in.google.com', ports: { 'http-valid2': 9080 } }],
      resolution: 'DNS',
    },
  },
  {
    name: 'full wildcard host',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['foo.com', '*'],
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
      endpoints: [{ address: 'in.google.com', ports: { 'http-valid2': 9080 } }],
      resolution: 'DNS',
    },
  },
  {
    name: 'short name host',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['foo', 'bar.com'],
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
      endpoints: [{ address: 'in.google.com', ports: { 'http-valid1': 9080 } }],
      resolution: 'DNS',
    },
  },
  {
    name: 'undefined endpoint port',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 80, protocol: 'http', name: 'http-valid2' },
      ],
      endpoints: [
        { address: 'lon.google.com', ports: { 'http-valid1': 8080 } },
        { address: 'in.google.com', ports: { 'http-dne': 9080 } },
      ],
      resolution: 'DNS',
    },
  },
  {
    name: 'discovery type DNS, non-FQDN endpoint',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.google.com'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      endpoints: [
        { address: '*.lon.google.com', ports: { 'http-valid1': 8080 } },
        { address: 'in.google.com', ports: { 'http-dne': 9080 } },
      ],
      resolution: 'DNS',
    },
  },
  {
    name: 'discovery type DNS, non-FQDN host',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.google.com'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      resolution: 'DNS',
    },
  },
  {
    name: 'discovery type DNS, no endpoints',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      resolution: 'DNS',
    },
  },
  {
    name: 'discovery type DNS, unix endpoint',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.google.com'],
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
      endpoints: [{ address: 'unix:///lon/google/com' }],
      resolution: 'DNS',
    },
  },
  {
    name: 'discovery type none',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      resolution: 'NONE',
    },
  },
  {
    name: 'discovery type none, endpoints provided',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      endpoints: [{ address: 'lon.google.com', ports: { 'http-valid1': 8080 } }],
      resolution: 'NONE',
    },
  },
  {
    name: 'discovery type none, cidr addresses',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      addresses: ['172.1.2.16/16'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      resolution: 'NONE',
    },
  },
  {
    name: 'discovery type static, cidr addresses with endpoints',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      addresses: ['172.1.2.16/16'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      endpoints: [
        { address: '1.1.1.1', ports: { 'http-valid1': 8080 } },
        { address: '2.2.2.2', ports: { 'http-valid2': 9080 } },
      ],
      resolution: 'STATIC',
    },
  },
  {
    name: 'discovery type static',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      addresses: ['172.1.2.16'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      endpoints: [
        { address: '1.1.1.1', ports: { 'http-valid1': 8080 } },
        { address: '2.2.2.2', ports: { 'http-valid2': 9080 } },
      ],
      resolution: 'STATIC',
    },
  },
  {
    name: 'discovery type static, FQDN in endpoints',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      addresses: ['172.1.2.16'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      endpoints: [
        { address: 'google.com', ports: { 'http-valid1': 8080 } },
        { address: '2.2.2.2', ports: { 'http-valid2': 9080 } },
      ],
      resolution: 'STATIC',
    },
  },
  {
    name: 'discovery type static, missing endpoints',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      addresses: ['172.1.2.16'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      resolution: 'STATIC',
    },
  },
  {
    name: 'discovery type static, bad endpoint port name',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      addresses: ['172.1.2.16'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      endpoints: [
        { address: '1.1.1.1', ports: { 'http-valid1': 8080 } },
        { address: '2.2.2.2', ports: { 'http-dne': 9080 } },
      ],
      resolution: 'STATIC',
    },
  },
  {
    name: 'discovery type none, conflicting port names',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-conflict' },
        { number: 8080, protocol: 'http', name: 'http-conflict' },
      ],
      resolution: 'NONE',
    },
  },
  {
    name: 'discovery type none, conflicting port numbers',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-conflict1' },
        { number: 80, protocol: 'http', name: 'http-conflict2' },
      ],
      resolution: 'NONE',
    },
  },
  {
    name: 'unix socket',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['uds.cluster.local'],
      ports: [{ number: 6553, protocol: 'grpc', name: 'grpc-service1' }],
      resolution: 'STATIC',
      endpoints: [{ address: 'unix:///path/to/socket' }],
    },
  },
  {
    name: 'unix socket, relative path',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['uds.cluster.local'],
      ports: [{ number: 6553, protocol: 'grpc', name: 'grpc-service1' }],
      resolution: 'STATIC',
      endpoints: [{ address: 'unix://./relative/path.sock' }],
    },
  },
  {
    name: 'unix socket, endpoint ports',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['uds.cluster.local'],
      ports: [{ number: 6553, protocol: 'grpc', name: 'grpc-service1' }],
      resolution: 'STATIC',
      endpoints: [{ address: 'unix:///path/to/socket', ports: { 'grpc-service1': 6553 } }],
    },
  },
  {
    name: 'unix socket, multiple service ports',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['uds.cluster.local'],
      ports: [
        { number: 6553, protocol: 'grpc', name: 'grpc-service1' },
        { number: 80, protocol: 'http', name: 'http-service2' },
      ],
      resolution: 'STATIC',
      endpoints: [{ address: 'unix:///path/to/socket' }],
    },
  },
  {
    name: 'empty protocol',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      addresses: ['172.1.2.16/16'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, name: 'http-valid2' },
      ],
      resolution: 'NONE',
    },
  },
  {
    name: 'selector',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      workloadSelector: { labels: { foo: 'bar' } },
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
    },
  },
  {
    name: 'workload selector without labels',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      workloadSelector: {},
    },
  },
  {
    name: 'selector and endpoints',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      workloadSelector: { labels: { foo: 'bar' } },
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
      endpoints: [{ address: '1.1.1.1' }],
    },
  },
  {
    name: 'selector and resolution NONE',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      workloadSelector: { labels: { foo: 'bar' } },
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
      resolution: 'NONE',
    },
  },
  {
    name: 'selector and resolution DNS',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      workloadSelector: { labels: { foo: 'bar' } },
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
      resolution: 'DNS',
    },
  },
  {
    name: 'bad selector key',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      workloadSelector: { labels: { '': 'bar' } },
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
    },
  },
  {
    name: 'repeat target port',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      resolution: 'DNS',
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1', targetPort: 80 },
        { number: 81, protocol: 'http', name: 'http-valid2', targetPort: 80 },
      ],
    },
  },
  {
    name: 'valid target port',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      resolution: 'DNS',
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1', targetPort: 81 }],
    },
  },
  {
    name: 'invalid target port',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      resolution: 'DNS',
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1', targetPort: 65536 }],
    },
  },
  {
    name: 'warn target port',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      workloadSelector: { labels: { key: 'bar' } },
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1', targetPort: 1234 }],
    },
  },
  {
    name: 'valid endpoint port',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1', targetPort: 81 }],
      resolution: 'STATIC',
      endpoints: [{ address: '1.1.1.1', ports: { 'http-valid1': 8081 } }],
    },
  },
  {
    name: 'invalid endpoint port',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1', targetPort: 81 }],
      resolution: 'STATIC',
      endpoints: [{ address: '1.1.1.1', ports: { 'http-valid1': 65536 } }],
    },
  },
  {
    name: 'protocol unset for addresses empty',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      addresses: [],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, name: 'http-valid2' },
      ],
      resolution: 'NONE',
    },
  },
  {
    name: 'protocol is TCP for addresses empty',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      addresses: [],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 81, protocol: 'TCP', name: 'tcp-valid1' },
      ],
      resolution: 'NONE',
    },
  },
  {
    name: 'dns round robin with more than one endpoint',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      addresses: [],
      ports: [{ number: 8081, protocol: 'http', name: 'http-valid1' }],
      endpoints: [
        { address: 'api-v1.istio.io', ports: { 'http-valid1': 8081 } },
        { address: '1.1.1.2', ports: { 'http-valid1': 8081 } },
      ],
      resolution: 'DNS_ROUND_ROBIN',
    },
  },
  {
    name: 'dns round robin with 0 endpoints',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      addresses: [],
      ports: [{ number: 8081, protocol: 'http', name: 'http-valid1' }],
      endpoints: [],
      resolution: 'DNS_ROUND_ROBIN',
    },
  },
  {
    name: 'partial wildcard hosts',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.nytimes.com', '*washingtonpost.com'],
      addresses: [],
      ports: [{ number: 443, protocol: 'HTTPS', name: 'https-nytimes' }],
      endpoints: [],
      resolution: 'NONE',
    },
  },
  {
    name: 'network set with no address on endpoint',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['www.example.com'],
      addresses: [],
      ports: [{ number: 443, protocol: 'HTTPS', name: 'https-example' }],
      endpoints: [{ network: 'cluster-1' }],
      resolution: 'STATIC',
    },
  },
  {
    name: 'discovery type DYNAMIC_DNS, unsupported TCP protocol',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.google.com'],
      addresses: [],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 81, protocol: 'TCP', name: 'tcp-valid1' },
      ],
      resolution: 'DYNAMIC_DNS',
    },
  },
  {
    name: 'discovery type DYNAMIC_DNS, GRPC protocol',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.svc.cluster.local'],
      addresses: [],
      ports: [{ number: 9090, protocol: 'GRPC', name: 'grpc' }],
      resolution: 'DYNAMIC_DNS',
    },
  },
  {
    name: 'discovery type DYNAMIC_DNS, FQDN host',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['google.com'],
      addresses: [],
      ports: [{ number: 80, protocol: 'http', name: 'http-valid' }],
      resolution: 'DYNAMIC_DNS',
    },
  },
  {
    name: 'discovery type DYNAMIC_DNS, endpoints set',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.google.com'],
      addresses: [],
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
      endpoints: [{ address: 'in.google.com', ports: { 'http-valid1': 9080 } }],
      resolution: 'DYNAMIC_DNS',
    },
  },
  {
    name: 'discovery type DYNAMIC_DNS, IP address set',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.google.com'],
      addresses: ['10.10.10.10'],
      ports: [
        { number: 80, protocol: 'http', name: 'http-valid1' },
        { number: 8080, protocol: 'http', name: 'http-valid2' },
      ],
      resolution: 'DYNAMIC_DNS',
    },
  },
  {
    name: 'discovery type DYNAMIC_DNS, empty hosts',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: [],
      addresses: [],
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
      resolution: 'DYNAMIC_DNS',
    },
  },
  {
    name: 'discovery type DYNAMIC_DNS, multiple wildcarded hosts',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.google.com', '*.amazon.com'],
      addresses: [],
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
      resolution: 'DYNAMIC_DNS',
    },
  },
  {
    name: 'discovery type DYNAMIC_DNS, internal mesh location',
    valid: true,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.google.com'],
      addresses: [],
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
      resolution: 'DYNAMIC_DNS',
      location: 'MESH_INTERNAL',
    },
  },
  {
    name: 'discovery type DYNAMIC_DNS, MESH_INTERNAL with waypoint (invalid)',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['*.google.com'],
      addresses: [],
      ports: [{ number: 80, protocol: 'http', name: 'http-valid1' }],
      resolution: 'DYNAMIC_DNS',
      location: 'MESH_INTERNAL',
    },
    labels: { 'istio.io/use-waypoint': 'my-waypoint' },
  },
  {
    name: 'discovery type DYNAMIC_DNS, nil port',
    valid: false,
    kind: 'ServiceEntry',
    spec: { hosts: ['*.google.com'], location: 'MESH_EXTERNAL', ports: [{}], resolution: 'DYNAMIC_DNS' },
  },
  {
    name: 'nil port in ports array',
    valid: false,
    kind: 'ServiceEntry',
    spec: { hosts: ['google.com'], ports: [{}], resolution: 'NONE' },
  },
  {
    name: 'discovery type DNS with addresses, nil port',
    valid: false,
    kind: 'ServiceEntry',
    spec: { hosts: ['google.com'], addresses: ['1.2.3.4'], ports: [{}], resolution: 'DNS' },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidatePortName', [
  {
    name: '(empty)',
    valid: false,
    kind: 'ServiceEntry',
    spec: { hosts: ['foo.bar'], ports: [{ number: 80, name: '', protocol: 'HTTP' }] },
  },
  {
    name: 'simple',
    valid: true,
    kind: 'ServiceEntry',
    spec: { hosts: ['foo.bar'], ports: [{ number: 80, name: 'simple', protocol: 'HTTP' }] },
  },
  {
    name: 'full',
    valid: true,
    kind: 'ServiceEntry',
    spec: { hosts: ['foo.bar'], ports: [{ number: 80, name: 'full', protocol: 'HTTP' }] },
  },
  {
    name: 'toolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolong',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['foo.bar'],
      ports: [
        {
          number: 80,
          name: 'toolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolongtoolong',
          protocol: 'HTTP',
        },
      ],
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateWorkloadEntry', [
  { name: 'valid', valid: true, kind: 'WorkloadEntry', spec: { address: '1.2.3.4' } },
  { name: 'missing address', valid: false, kind: 'WorkloadEntry', spec: {} },
  {
    name: 'missing address with network',
    valid: true,
    kind: 'WorkloadEntry',
    spec: { network: 'network-2' },
  },
  {
    name: 'valid unix endpoint',
    valid: true,
    kind: 'WorkloadEntry',
    spec: { address: 'unix:///lon/google/com' },
  },
  {
    name: 'invalid unix endpoint',
    valid: false,
    kind: 'WorkloadEntry',
    spec: { address: 'unix:///lon/google/com', ports: { '7777': 7777 } },
  },
  {
    name: 'valid FQDN',
    valid: true,
    kind: 'WorkloadEntry',
    spec: { address: 'validdns.com', ports: { '7777': 7777 } },
  },
  {
    name: 'invalid FQDN',
    valid: false,
    kind: 'WorkloadEntry',
    spec: { address: 'invaliddns.com:9443', ports: { '7777': 7777 } },
  },
  {
    name: 'valid IP',
    valid: true,
    kind: 'WorkloadEntry',
    spec: { address: '172.16.1.1', ports: { '7777': 7777 } },
  },
]);
