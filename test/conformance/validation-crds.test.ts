/**
 * Istio's CRD validation documents (`pkg/config/validation/testdata/crds/*.yaml`, run by `TestCRDs`),
 * ported as facts: each document as YAML text, loaded and validated as `kubectl apply` + the webhook would.
 */
import { describeIstioCases } from './validation-harness.js';

describeIstioCases('pkg/config/validation/openapi_test.go', 'TestCRDs', [
  {
    name: 'destinationrule-invalid.yaml: bookinfo-ratings',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {"name": "bookinfo-ratings"}\nspec: {"host": "ratings.prod.svc.cluster.local", "trafficPolicy": {"loadBalancer": {"warmup": {"duration": "300s", "minimumPercent": 150.0}}}}\n',
  },
  {
    name: 'destinationrule-invalid.yaml: bookinfo-ratings',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {"name": "bookinfo-ratings"}\nspec: {"host": "ratings.prod.svc.cluster.local", "trafficPolicy": {"loadBalancer": {"warmup": {"minimumPercent": 5.0}}}}\n',
  },
  {
    name: 'destinationrule-invalid.yaml: bookinfo-ratings',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {"name": "bookinfo-ratings"}\nspec: {"host": "ratings.prod.svc.cluster.local", "trafficPolicy": {"loadBalancer": {"warmup": {"duration": "300s", "aggression": -0.1}}}}\n',
  },
  {
    name: 'destinationrule-valid.yaml: bookinfo-ratings',
    valid: true,
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {"name": "bookinfo-ratings"}\nspec: {"host": "ratings.prod.svc.cluster.local", "trafficPolicy": {"loadBalancer": {"warmup": {"duration": "300s"}}}}\n',
  },
  {
    name: 'destinationrule-valid.yaml: bookinfo-ratings',
    valid: true,
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {"name": "bookinfo-ratings"}\nspec: {"host": "ratings.prod.svc.cluster.local", "trafficPolicy": {"loadBalancer": {"warmup": {"duration": "300s", "minimumPercent": 5.0}}}}\n',
  },
  {
    name: 'destinationrule-valid.yaml: bookinfo-ratings',
    valid: true,
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {"name": "bookinfo-ratings"}\nspec: {"host": "ratings.prod.svc.cluster.local", "trafficPolicy": {"loadBalancer": {"warmup": {"duration": "300s", "minimumPercent": 5.0, "aggression": 5.0}}}}\n',
  },
  {
    name: 'destinationrule-valid.yaml: bookinfo-ratings-http2-ping',
    valid: true,
    yaml: 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {"name": "bookinfo-ratings-http2-ping"}\nspec: {"host": "ratings.prod.svc.cluster.local", "trafficPolicy": {"connectionPool": {"http": {"http2KeepAlive": {"interval": "15s", "timeout": "5s"}}}}}\n',
  },
  {
    name: 'serviceentry-invalid.yaml: no-spec',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {"name": "no-spec"}\n',
  },
  {
    name: 'serviceentry-invalid.yaml: missing-host',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {"name": "missing-host"}\nspec: {}\n',
  },
  {
    name: 'serviceentry-invalid.yaml: bad-selector-value',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {"name": "bad-selector-value"}\nspec: {"hosts": ["example.com"], "workloadSelector": {"labels": {"val": "*"}}}\n',
  },
  {
    name: 'serviceentry-invalid.yaml: selector-and-endpoints',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {"name": "selector-and-endpoints"}\nspec: {"hosts": ["example.com"], "workloadSelector": {}, "endpoints": [{"address": "1.2.3.4"}]}\n',
  },
  {
    name: 'serviceentry-invalid.yaml: bad-host-wildcard',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {"name": "bad-host-wildcard"}\nspec: {"hosts": ["*"]}\n',
  },
  {
    name: 'serviceentry-invalid.yaml: bad-cidr-resolution',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {"name": "bad-cidr-resolution"}\nspec: {"hosts": ["example.com"], "addresses": ["1.2.3.4/16"], "resolution": "DNS"}\n',
  },
  {
    name: 'serviceentry-invalid.yaml: duplicate-ports-name',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {"name": "duplicate-ports-name"}\nspec: {"hosts": ["example.com"], "ports": [{"name": "a", "number": 1}, {"name": "a", "number": 12}]}\n',
  },
  {
    name: 'serviceentry-invalid.yaml: duplicate-ports-number',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {"name": "duplicate-ports-number"}\nspec: {"hosts": ["example.com"], "ports": [{"name": "a", "number": 1}, {"name": "b", "number": 1}]}\n',
  },
  {
    name: 'serviceentry-invalid.yaml: bad-port',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {"name": "bad-port"}\nspec: {"hosts": ["example.com"], "ports": [{"name": "a", "number": 99999}]}\n',
  },
  {
    name: 'serviceentry-invalid.yaml: bad-port-target',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {"name": "bad-port-target"}\nspec: {"hosts": ["example.com"], "ports": [{"name": "a", "number": 1, "targetPort": 99999}]}\n',
  },
  {
    name: 'serviceentry-invalid.yaml: none-with-endpoints',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {"name": "none-with-endpoints"}\nspec: {"hosts": ["example.com"], "endpoints": [{"address": "1.2.3.4"}], "resolution": "NONE"}\n',
  },
  {
    name: 'serviceentry-invalid.yaml: dns-rr-with-multiple-endpoints',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {"name": "dns-rr-with-multiple-endpoints"}\nspec: {"hosts": ["example.com"], "resolution": "DNS_ROUND_ROBIN", "endpoints": [{"address": "sub1.example.com"}, {"address": "sub2.example.com"}]}\n',
  },
  {
    name: 'serviceentry-valid.yaml: full',
    valid: true,
    yaml: 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: full, namespace: default}\nspec:\n  hosts: [example.com]\n  workloadSelector: {labels: {foo: bar}}\n  addresses: [1.2.3.4, 001:db8::]\n  exportTo: [foo, .]\n  location: MESH_EXTERNAL\n  ports:\n  - {name: foo, protocol: HTTP, number: 1234, targetPort: 2345}\n  subjectAltNames: [sa]\n  resolution: DNS\n',
  },
  {
    name: 'serviceentry-valid.yaml: static-endpoints',
    valid: true,
    yaml: 'apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {"name": "static-endpoints"}\nspec: {"hosts": ["example.com"], "endpoints": [{"address": "sub.example.com"}], "ports": [{"name": "foo", "protocol": "HTTP", "number": 1234, "targetPort": 2345}], "resolution": "DNS"}\n',
  },
  {
    name: 'serviceentry-valid.yaml: empty-selector',
    valid: true,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {"name": "empty-selector"}\nspec: {"workloadSelector": {}, "hosts": ["example.com"]}\n',
  },
  {
    name: 'serviceentry-valid.yaml: partial-wildcard',
    valid: true,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {"name": "partial-wildcard"}\nspec: {"hosts": ["*x"]}\n',
  },
  {
    name: 'serviceentry-valid.yaml: none-cidr',
    valid: true,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: ServiceEntry\nmetadata: {"name": "none-cidr"}\nspec: {"hosts": ["example.com"], "addresses": ["1.1.1.1/32"]}\n',
  },
  {
    name: 'workloadentry-invalid.yaml: no-spec',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: WorkloadEntry\nmetadata: {"name": "no-spec"}\n',
  },
  {
    name: 'workloadentry-invalid.yaml: missing-address',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: WorkloadEntry\nmetadata: {"name": "missing-address"}\nspec: {}\n',
  },
  {
    name: 'workloadentry-invalid.yaml: bad-uds-dir',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: WorkloadEntry\nmetadata: {"name": "bad-uds-dir"}\nspec: {"address": "unix:///dir/"}\n',
  },
  {
    name: 'workloadentry-invalid.yaml: bad-uds-relative',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: WorkloadEntry\nmetadata: {"name": "bad-uds-relative"}\nspec: {"address": "unix://relative"}\n',
  },
  {
    name: 'workloadentry-invalid.yaml: uds-with-ports',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: WorkloadEntry\nmetadata: {"name": "uds-with-ports"}\nspec: {"address": "unix://@foo", "ports": {"http": 80}}\n',
  },
  {
    name: 'workloadentry-invalid.yaml: high-port',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: WorkloadEntry\nmetadata: {"name": "high-port"}\nspec: {"address": "1.1.1.1", "ports": {"http": 99999}}\n',
  },
  {
    name: 'workloadentry-invalid.yaml: bad-port-name',
    valid: false,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: WorkloadEntry\nmetadata: {"name": "bad-port-name"}\nspec: {"address": "1.1.1.1", "ports": {"@": 80}}\n',
  },
  {
    name: 'workloadentry-valid.yaml: full',
    valid: true,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: WorkloadEntry\nmetadata: {"name": "full"}\nspec: {"address": "1.2.3.4", "serviceAccount": "sa", "network": "net", "labels": {"app": "app"}, "ports": {"http": 1}, "weight": 2, "locality": "foo/bar/baz"}\n',
  },
  {
    name: 'workloadentry-valid.yaml: missing-address-network-set',
    valid: true,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: WorkloadEntry\nmetadata: {"name": "missing-address-network-set"}\nspec: {"network": "net"}\n',
  },
  {
    name: 'workloadentry-valid.yaml: uds-abstract',
    valid: true,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: WorkloadEntry\nmetadata: {"name": "uds-abstract"}\nspec: {"address": "unix://@foo"}\n',
  },
  {
    name: 'workloadentry-valid.yaml: uds-path',
    valid: true,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: WorkloadEntry\nmetadata: {"name": "uds-path"}\nspec: {"address": "unix:///foo/bar"}\n',
  },
  {
    name: 'workloadentry-valid.yaml: fqdn',
    valid: true,
    yaml: 'apiVersion: networking.istio.io/v1alpha3\nkind: WorkloadEntry\nmetadata: {"name": "fqdn"}\nspec: {"address": "example.com"}\n',
  },
]);
