/**
 * Istio's webhook validation cases for VirtualService resources, ported as facts (each case's
 * configuration and whether Istio accepts it), one table per Istio test function. Each case runs
 * through meshgate's schema and field validation as a whole resource.
 */
import { describeIstioCases } from './validation-harness.js';

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateCORSPolicy', [
  {
    name: 'valid',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          corsPolicy: {
            allowMethods: ['GET', 'POST'],
            allowHeaders: ['header1', 'header2'],
            exposeHeaders: ['header3'],
            maxAge: '2s',
          },
        },
      ],
    },
  },
  {
    name: 'bad method',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          corsPolicy: {
            allowMethods: ['GET', 'PUTT'],
            allowHeaders: ['header1', 'header2'],
            exposeHeaders: ['header3'],
            maxAge: '2s',
          },
        },
      ],
    },
  },
  {
    name: 'bad header',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          corsPolicy: {
            allowMethods: ['GET', 'POST'],
            allowHeaders: ['header1', 'header2'],
            exposeHeaders: [''],
            maxAge: '2s',
          },
        },
      ],
    },
  },
  {
    name: 'bad max age',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          corsPolicy: {
            allowMethods: ['GET', 'POST'],
            allowHeaders: ['header1', 'header2'],
            exposeHeaders: ['header3'],
            maxAge: '2.000000042s',
          },
        },
      ],
    },
  },
  {
    name: 'empty matchType AllowOrigins',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          corsPolicy: {
            allowOrigins: [{ exact: '' }, { prefix: '' }, { regex: '' }],
            allowMethods: ['GET', 'POST'],
            allowHeaders: ['header1', 'header2'],
            exposeHeaders: ['header3'],
            maxAge: '2s',
          },
        },
      ],
    },
  },
  {
    name: 'non empty matchType AllowOrigins',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          corsPolicy: {
            allowOrigins: [{ exact: 'exact' }, { prefix: 'prefix' }, { regex: 'regex' }],
            allowMethods: ['GET', 'POST'],
            allowHeaders: ['header1', 'header2'],
            exposeHeaders: ['header3'],
            maxAge: '2s',
          },
        },
      ],
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateHTTPFaultInjectionAbort', [
  {
    name: 'nil',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'valid',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { abort: { percentage: { value: 20 }, httpStatus: 200 } },
        },
      ],
    },
  },
  {
    name: 'valid default',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }], fault: { abort: { httpStatus: 200 } } }],
    },
  },
  {
    name: 'invalid http status',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { abort: { percentage: { value: 20 }, httpStatus: 9000 } },
        },
      ],
    },
  },
  {
    name: 'invalid low http status',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { abort: { percentage: { value: 20 }, httpStatus: 100 } },
        },
      ],
    },
  },
  {
    name: 'valid percentage',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { abort: { percentage: { value: 0.001 }, httpStatus: 200 } },
        },
      ],
    },
  },
  {
    name: 'invalid fractional percent',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { abort: { percentage: { value: -10.0 }, httpStatus: 200 } },
        },
      ],
    },
  },
  {
    name: 'grpc: nil',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'grpc: valid',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { abort: { percentage: { value: 20 }, grpcStatus: 'DEADLINE_EXCEEDED' } },
        },
      ],
    },
  },
  {
    name: 'grpc: valid default percentage',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { abort: { grpcStatus: 'DEADLINE_EXCEEDED' } },
        },
      ],
    },
  },
  {
    name: 'grpc: invalid status',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { abort: { percentage: { value: 20 }, grpcStatus: 'BAD_STATUS' } },
        },
      ],
    },
  },
  {
    name: 'grpc: valid percentage',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { abort: { percentage: { value: 0.001 }, grpcStatus: 'INTERNAL' } },
        },
      ],
    },
  },
  {
    name: 'grpc: invalid fractional percent',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { abort: { percentage: { value: -10.0 }, grpcStatus: 'DEADLINE_EXCEEDED' } },
        },
      ],
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateHTTPFaultInjectionDelay', [
  {
    name: 'nil',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'valid fixed',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { delay: { percentage: { value: 20 }, fixedDelay: '3s' } },
        },
      ],
    },
  },
  {
    name: 'valid default',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }], fault: { delay: { fixedDelay: '3s' } } }],
    },
  },
  {
    name: 'invalid percent',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { delay: { percentage: { value: 101 }, fixedDelay: '3s' } },
        },
      ],
    },
  },
  {
    name: 'invalid delay',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { delay: { percentage: { value: 20 }, fixedDelay: '3.000000042s' } },
        },
      ],
    },
  },
  {
    name: 'valid fractional percentage',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { delay: { percentage: { value: 0.001 }, fixedDelay: '3s' } },
        },
      ],
    },
  },
  {
    name: 'invalid fractional percentage',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          fault: { delay: { percentage: { value: -10.0 }, fixedDelay: '3s' } },
        },
      ],
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateHTTPRetry', [
  {
    name: 'valid',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          retries: { attempts: 10, perTryTimeout: '2s', retryOn: '5xx,gateway-error' },
        },
      ],
    },
  },
  {
    name: 'disable retries',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }], retries: { attempts: 0 } }],
    },
  },
  {
    name: 'invalid, retry policy configured but attempts set to zero',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          retries: { attempts: 0, perTryTimeout: '2s', retryOn: '5xx,gateway-error' },
        },
      ],
    },
  },
  {
    name: 'valid default',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }], retries: { attempts: 10 } }],
    },
  },
  {
    name: 'valid http status retryOn',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          retries: { attempts: 10, perTryTimeout: '2s', retryOn: '503,connect-failure' },
        },
      ],
    },
  },
  {
    name: 'invalid attempts',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { route: [{ destination: { host: 'foo.baz' } }], retries: { attempts: -1, perTryTimeout: '2s' } },
      ],
    },
  },
  {
    name: 'invalid timeout',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          retries: { attempts: 10, perTryTimeout: '2.000000001s' },
        },
      ],
    },
  },
  {
    name: 'timeout too small',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          retries: { attempts: 10, perTryTimeout: '0.000000999s' },
        },
      ],
    },
  },
  {
    name: 'invalid backoff',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { route: [{ destination: { host: 'foo.baz' } }], retries: { attempts: 10, backoff: '0.000000999s' } },
      ],
    },
  },
  {
    name: 'invalid policy retryOn',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          retries: { attempts: 10, perTryTimeout: '2s', retryOn: '5xx,invalid policy' },
        },
      ],
    },
  },
  {
    name: 'invalid http status retryOn',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          retries: { attempts: 10, perTryTimeout: '2s', retryOn: '600,connect-failure' },
        },
      ],
    },
  },
  {
    name: 'invalid, retryRemoteLocalities configured but attempts set to zero',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          retries: { attempts: 0, retryRemoteLocalities: false },
        },
      ],
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateHTTPRewrite', [
  {
    name: 'nil in',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'uri and authority',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          rewrite: { uri: '/path/to/resource', authority: 'foobar.org' },
        },
      ],
    },
  },
  {
    name: 'uri',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }], rewrite: { uri: '/path/to/resource' } }],
    },
  },
  {
    name: 'authority',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }], rewrite: { authority: 'foobar.org' } }],
    },
  },
  {
    name: 'uriRegexRewrite',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          rewrite: { uriRegexRewrite: { match: '^/service/([^/]+)(/.*)$', rewrite: '\\2/instance/\\1' } },
        },
      ],
    },
  },
  {
    name: 'uriRegexRewrite and authority',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          rewrite: {
            authority: 'foobar.org',
            uriRegexRewrite: { match: '^/service/([^/]+)(/.*)$', rewrite: '\\2/instance/\\1' },
          },
        },
      ],
    },
  },
  {
    name: 'uriRegexRewrite and uri',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          rewrite: {
            uri: '/path/to/resource',
            uriRegexRewrite: { match: '^/service/([^/]+)(/.*)$', rewrite: '\\2/instance/\\1' },
          },
        },
      ],
    },
  },
  {
    name: 'no uri, uriRegexRewrite, or authority',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }], rewrite: {} }] },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateUriRegexRewrite', [
  {
    name: 'uriRegexRewrite nil',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'uriRegexRewrite happy path',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          rewrite: { uriRegexRewrite: { match: '^/service/([^/]+)(/.*)$', rewrite: '\\2/instance/\\1' } },
        },
      ],
    },
  },
  {
    name: 'uriRegexRewrite missing match',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          rewrite: { uriRegexRewrite: { rewrite: '\\2/instance/\\1' } },
        },
      ],
    },
  },
  {
    name: 'uriRegexRewrite missing rewrite',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          rewrite: { uriRegexRewrite: { match: '^/service/([^/]+)(/.*)$' } },
        },
      ],
    },
  },
  {
    name: 'uriRegexRewrite invalid regex patterns',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          rewrite: { uriRegexRewrite: { match: '[', rewrite: '[' } },
        },
      ],
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateHTTPRedirect', [
  {
    name: 'nil redirect',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'empty uri and authority',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ redirect: { uri: '', authority: '' } }] },
  },
  {
    name: 'too small redirect code',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ redirect: { uri: 't', authority: '', redirectCode: 299 } }] },
  },
  {
    name: 'too large redirect code',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ redirect: { uri: 't', authority: '', redirectCode: 400 } }] },
  },
  {
    name: 'empty authority',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ redirect: { uri: 't', authority: '' } }] },
  },
  {
    name: 'empty uri',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ redirect: { uri: '', authority: 't' } }] },
  },
  {
    name: 'empty redirect code',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ redirect: { uri: 't', authority: 't', redirectCode: 0 } }] },
  },
  {
    name: 'normal redirect',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ redirect: { uri: 't', authority: 't', redirectCode: 308 } }] },
  },
  {
    name: 'prefix_rewrite alone',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ redirect: { prefixRewrite: '/bar' } }] },
  },
  {
    name: 'prefix_rewrite with authority',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ redirect: { authority: 'foo.example.com', prefixRewrite: '/' } }] },
  },
  {
    name: 'uri and prefix_rewrite mutually exclusive',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ redirect: { uri: '/old', prefixRewrite: '/new' } }] },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateHTTPDirectResponse', [
  ...[
    {
      name: 'nil redirect',
      valid: true,
      kind: 'VirtualService',
      spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
    },
    {
      name: 'status 200',
      valid: true,
      kind: 'VirtualService',
      spec: { hosts: ['foo.bar'], http: [{ directResponse: { status: 200 } }] },
    },
    {
      name: 'status 100',
      valid: false,
      kind: 'VirtualService',
      spec: { hosts: ['foo.bar'], http: [{ directResponse: { status: 199 } }] },
    },
    {
      name: 'status 600',
      valid: false,
      kind: 'VirtualService',
      spec: { hosts: ['foo.bar'], http: [{ directResponse: { status: 601 } }] },
    },
    {
      name: 'with string body',
      valid: true,
      kind: 'VirtualService',
      spec: {
        hosts: ['foo.bar'],
        http: [{ directResponse: { status: 200, body: { specifier: { string_: 'hello' } } } }],
      },
    },
  ],
  {
    name: 'with string body over 100kb',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ directResponse: { status: 200, body: { string: 'a'.repeat(101 * 1024) } } }],
    },
  },
  {
    name: 'with string body over 1mb',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ directResponse: { status: 200, body: { string: 'a'.repeat(2 * 1024 * 1024) } } }],
    },
  },
  {
    name: 'with bytes body',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ directResponse: { status: 200, body: { bytes: Buffer.from('hello').toString('base64') } } }],
    },
  },
  {
    name: 'with bytes body over 100kb',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          directResponse: {
            status: 200,
            body: { bytes: Buffer.from('a'.repeat(100 * 1024 + 1)).toString('base64') },
          },
        },
      ],
    },
  },
  {
    name: 'with bytes body over 1mb',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          directResponse: {
            status: 200,
            body: { bytes: Buffer.from('a'.repeat(1024 * 1024 + 1)).toString('base64') },
          },
        },
      ],
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateDestination', [
  {
    name: 'empty',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: {} }] }] },
  },
  {
    name: 'simple',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.bar' } }] }] },
  },
  {
    name: 'full',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.bar', subset: 'shiny', port: { number: 5000 } } }] }],
    },
  },
  {
    name: 'unnumbered-selector',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.bar', subset: 'shiny', port: {} } }] }],
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateHTTPRoute', [
  { name: 'empty', valid: false, kind: 'VirtualService', spec: { hosts: ['foo.bar'], http: [{}] } },
  {
    name: 'simple',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'no destination',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{}] }] },
  },
  {
    name: 'weighted',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz.south' }, weight: 25 },
            { destination: { host: 'foo.baz.east' }, weight: 75 },
          ],
        },
      ],
    },
  },
  {
    name: 'total weight > 100',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz.south' }, weight: 550 },
            { destination: { host: 'foo.baz.east' }, weight: 500 },
          ],
        },
      ],
    },
  },
  {
    name: 'total weight < 100',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz.south' }, weight: 49 },
            { destination: { host: 'foo.baz.east' }, weight: 50 },
          ],
        },
      ],
    },
  },
  {
    name: 'simple redirect',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ redirect: { uri: '/lerp', authority: 'foo.biz' } }] },
  },
  {
    name: 'prefix_rewrite redirect with prefix URI match',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ match: [{ uri: { prefix: '/foo' } }], redirect: { prefixRewrite: '/bar' } }],
    },
  },
  {
    name: 'prefix_rewrite redirect with exact URI match is invalid',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ match: [{ uri: { exact: '/foo' } }], redirect: { prefixRewrite: '/bar' } }],
    },
  },
  {
    name: 'prefix_rewrite redirect with regex URI match is invalid',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ match: [{ uri: { regex: '/foo.*' } }], redirect: { prefixRewrite: '/bar' } }],
    },
  },
  {
    name: 'prefix_rewrite redirect with no URI match (wildcard) is valid',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ match: [{ headers: { 'x-foo': { exact: 'bar' } } }], redirect: { prefixRewrite: '/bar' } }],
    },
  },
  {
    name: 'conflicting redirect and route',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { route: [{ destination: { host: 'foo.baz' } }], redirect: { uri: '/lerp', authority: 'foo.biz' } },
      ],
    },
  },
  {
    name: 'request response headers',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'valid headers',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            {
              destination: { host: 'foo.baz' },
              headers: {
                request: { add: { name: '' }, set: { name: '' }, remove: ['name'] },
                response: { add: { name: '' }, set: { name: '' }, remove: ['name'] },
              },
            },
          ],
        },
      ],
    },
  },
  {
    name: 'empty header name - request add',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { route: [{ destination: { host: 'foo.baz' }, headers: { request: { add: { '': 'value' } } } }] },
      ],
    },
  },
  {
    name: 'empty header name - request set',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { route: [{ destination: { host: 'foo.baz' }, headers: { request: { set: { '': 'value' } } } }] },
      ],
    },
  },
  {
    name: 'empty header name - request remove',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' }, headers: { request: { remove: [''] } } }] }],
    },
  },
  {
    name: 'empty header name - response add',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { route: [{ destination: { host: 'foo.baz' }, headers: { response: { add: { '': 'value' } } } }] },
      ],
    },
  },
  {
    name: 'empty header name - response set',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { route: [{ destination: { host: 'foo.baz' }, headers: { response: { set: { '': 'value' } } } }] },
      ],
    },
  },
  {
    name: 'empty header name - response remove',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' }, headers: { response: { remove: [''] } } }] }],
    },
  },
  {
    name: 'envoy escaped % set',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz' }, headers: { response: { set: { 'i-love-istio': '100%%' } } } },
          ],
        },
      ],
    },
  },
  {
    name: 'envoy variable set',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz' }, headers: { response: { set: { name: '%HOSTNAME%' } } } },
          ],
        },
      ],
    },
  },
  {
    name: 'envoy unescaped % set',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz' }, headers: { response: { set: { name: 'abcd%oijasodifj' } } } },
          ],
        },
      ],
    },
  },
  {
    name: 'envoy escaped % add',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            {
              destination: { host: 'foo.baz' },
              headers: { response: { add: { 'i-love-istio': '100%% and more' } } },
            },
          ],
        },
      ],
    },
  },
  {
    name: 'envoy variable add',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            {
              destination: { host: 'foo.baz' },
              headers: { response: { add: { name: 'hello %HOSTNAME%' } } },
            },
          ],
        },
      ],
    },
  },
  {
    name: 'envoy unescaped % add',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz' }, headers: { response: { add: { name: 'abcd%oijasodifj' } } } },
          ],
        },
      ],
    },
  },
  {
    name: 'null header match',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.bar' } }], match: [{ headers: { header: null } }] }],
    },
  },
  {
    name: 'empty prefix header match',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.bar' } }],
          match: [{ headers: { emptyprefix: { prefix: '' } } }],
        },
      ],
    },
  },
  {
    name: 'nil match',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.bar' } }] }] },
  },
  {
    name: 'match with nil element',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.bar' } }], match: [{}] }] },
  },
  {
    name: 'invalid mirror percent',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ mirrorPercent: 101, route: [{ destination: { host: 'foo.bar' } }], match: [{}] }],
    },
  },
  {
    name: 'invalid mirror percentage',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { mirrorPercentage: { value: 101 }, route: [{ destination: { host: 'foo.bar' } }], match: [{}] },
      ],
    },
  },
  {
    name: 'valid mirror percentage',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ mirrorPercentage: { value: 1 }, route: [{ destination: { host: 'foo.bar' } }], match: [{}] }],
    },
  },
  {
    name: 'negative mirror percentage',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ mirrorPercentage: { value: -1 }, route: [{ destination: { host: 'foo.bar' } }], match: [{}] }],
    },
  },
  {
    name: 'mirrors without destination',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ mirrors: [{}], route: [{ destination: { host: 'foo.bar' } }], match: [{}] }],
    },
  },
  {
    name: 'mirrors invalid mirror percentage',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          mirrors: [
            { destination: { host: 'foo.baz' } },
            { destination: { host: 'foo.baz' }, percentage: { value: 101 } },
          ],
          route: [{ destination: { host: 'foo.bar' } }],
          match: [{}],
        },
      ],
    },
  },
  {
    name: 'mirrors valid mirror percentage',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          mirrors: [
            { destination: { host: 'foo.baz' }, percentage: { value: 1 } },
            { destination: { host: 'foo.baz' }, percentage: { value: 50 } },
          ],
          route: [{ destination: { host: 'foo.bar' } }],
          match: [{}],
        },
      ],
    },
  },
  {
    name: 'mirrors negative mirror percentage',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          mirrors: [{ destination: { host: 'foo.baz' }, percentage: { value: -1 } }],
          route: [{ destination: { host: 'foo.bar' } }],
          match: [{}],
        },
      ],
    },
  },
  {
    name: 'conflicting mirror and mirrors',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          mirror: { host: 'foo.baz' },
          mirrors: [{ destination: { host: 'foo.bar' } }],
          route: [{ destination: { host: 'foo.baz' } }],
        },
      ],
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateRouteDestination', [
  {
    name: 'simple',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'wildcard dash',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: '*-foo.baz' } }] }] },
  },
  {
    name: 'wildcard prefix',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: '*foo.baz' } }] }] },
  },
  {
    name: 'wildcard',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: '*' } }] }] },
  },
  {
    name: 'bad wildcard',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.*' } }] }] },
  },
  {
    name: 'bad fqdn',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'default/baz' } }] }] },
  },
  {
    name: 'no destination',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{}] }] },
  },
  {
    name: 'weighted',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz.south' }, weight: 25 },
            { destination: { host: 'foo.baz.east' }, weight: 75 },
          ],
        },
      ],
    },
  },
  {
    name: 'weight < 0',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz.south' }, weight: 5 },
            { destination: { host: 'foo.baz.east' }, weight: -1 },
          ],
        },
      ],
    },
  },
  {
    name: 'total weight > 100',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz.south' }, weight: 550 },
            { destination: { host: 'foo.baz.east' }, weight: 500 },
          ],
        },
      ],
    },
  },
  {
    name: 'total weight < 100',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz.south' }, weight: 49 },
            { destination: { host: 'foo.baz.east' }, weight: 50 },
          ],
        },
      ],
    },
  },
  {
    name: 'total weight = 100',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz.south' }, weight: 100 },
            { destination: { host: 'foo.baz.east' }, weight: 0 },
          ],
        },
      ],
    },
  },
  {
    name: 'weight = 0',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz.south' }, weight: 0 }] }] },
  },
  {
    name: 'total weight = 0 with multi RouteDestination',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz.south' }, weight: 0 },
            { destination: { host: 'foo.baz.east' }, weight: 0 },
          ],
        },
      ],
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateVirtualService', [
  {
    name: 'simple',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'allow sni based domains',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['outbound_.15010_._.istiod.istio-system.svc.cluster.local'],
      gateways: ['ns1/gateway'],
      tls: [
        {
          match: [{ sniHosts: ['outbound_.15010_._.istiod.istio-system.svc.cluster.local'] }],
          route: [{ destination: { host: 'istio.istio-system.svc.cluster.local' } }],
        },
      ],
    },
  },
  {
    name: 'duplicate hosts',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['*.foo.bar', '*.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'with no destination',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['*.foo.bar', '*.bar'], http: [{ route: [{}] }] },
  },
  {
    name: 'destination with out hosts',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['*.foo.bar', '*.bar'], http: [{ route: [{ destination: {} }] }] },
  },
  {
    name: 'delegate with no hosts',
    valid: true,
    kind: 'VirtualService',
    spec: { http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'bad host',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.ba!r'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  { name: 'no tcp or http routing', valid: false, kind: 'VirtualService', spec: { hosts: ['foo.bar'] } },
  {
    name: 'bad gateway',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      gateways: ['b@dgateway'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }] }],
    },
  },
  {
    name: 'FQDN for gateway',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      gateways: ['gateway.example.com'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }] }],
    },
  },
  {
    name: 'namespace/name for gateway',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      gateways: ['ns1/gateway'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }] }],
    },
  },
  {
    name: 'namespace/* for gateway',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      gateways: ['ns1/*'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }] }],
    },
  },
  {
    name: '*/name for gateway',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      gateways: ['*/gateway'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }] }],
    },
  },
  {
    name: 'wildcard for mesh gateway',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['*'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'wildcard for non-mesh gateway',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['*'],
      gateways: ['somegateway'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }] }],
    },
  },
  {
    name: 'missing tcp route',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], tcp: [{ match: [{ port: 999 }] }] },
  },
  {
    name: 'missing tls route',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], tls: [{ match: [{ port: 999, sniHosts: ['foo.bar'] }] }] },
  },
  {
    name: 'deprecated mirror',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      gateways: ['ns1/gateway'],
      http: [{ mirrorPercent: 5, route: [{ destination: { host: 'foo.baz' } }] }],
    },
  },
  {
    name: 'set authority',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          headers: { request: { set: { ':authority': 'foo' } } },
          route: [{ destination: { host: 'foo.baz' } }],
        },
      ],
    },
  },
  {
    name: 'set authority in destination',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz' }, headers: { request: { set: { ':authority': 'foo' } } } },
          ],
        },
      ],
    },
  },
  {
    name: 'set authority in rewrite and header',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          headers: { request: { set: { ':authority': 'foo' } } },
          rewrite: { authority: 'bar' },
          route: [{ destination: { host: 'foo.baz' } }],
        },
      ],
    },
  },
  {
    name: 'non-method-get',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          match: [
            { uri: { prefix: '/api/v1/product' } },
            { uri: { prefix: '/api/v1/products' }, method: { exact: 'GET' } },
          ],
        },
      ],
    },
  },
  {
    name: 'uri-with-prefix-exact',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          match: [{ uri: { prefix: '/' } }, { uri: { exact: '/' }, method: { exact: 'GET' } }],
        },
      ],
    },
  },
  {
    name: 'jwt claim route without gateway',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      gateways: ['mesh'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          match: [{ uri: { prefix: '/' }, headers: { '@request.auth.claims.foo': { exact: 'bar' } } }],
        },
      ],
    },
  },
  {
    name: 'ip address as sni host',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      tls: [{ route: [{ destination: { host: 'foo.baz' } }], match: [{ port: 999, sniHosts: ['1.1.1.1'] }] }],
    },
  },
  {
    name: 'invalid wildcard as sni host',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      tls: [
        { route: [{ destination: { host: 'foo.baz' } }], match: [{ port: 999, sniHosts: ['foo.*.com'] }] },
      ],
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'Test_validateExportTo', [
  {
    name: 'empty exportTo is okay',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
    namespace: 'ns5',
  },
  {
    name: '* is allowed',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }], exportTo: ['*'] },
    namespace: 'ns5',
  },
  {
    name: '. and ns1 are allowed',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }] }],
      exportTo: ['.', 'ns1'],
    },
    namespace: 'ns5',
  },
  {
    name: 'bunch of namespaces in exportTo is okay',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }] }],
      exportTo: ['ns1', 'ns2', 'ns5'],
    },
    namespace: 'ns5',
  },
  {
    name: '~ is allowed for service entry configs',
    valid: true,
    kind: 'ServiceEntry',
    spec: { hosts: ['foo.bar'], ports: [{ number: 80, name: 'http', protocol: 'HTTP' }], exportTo: ['~'] },
    namespace: 'ns5',
  },
  {
    name: '~ not allowed for non service entry configs',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }] }],
      exportTo: ['~', 'ns1'],
    },
    namespace: 'ns5',
  },
  {
    name: '. and * together are not allowed',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }] }],
      exportTo: ['.', '*'],
    },
    namespace: 'ns5',
  },
  {
    name: '* and ns1 together are not allowed',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }] }],
      exportTo: ['*', 'ns1'],
    },
    namespace: 'ns5',
  },
  {
    name: '. and same namespace in exportTo is not okay',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }] }],
      exportTo: ['.', 'ns5'],
    },
    namespace: 'ns5',
  },
  {
    name: 'duplicate namespaces in exportTo is not okay',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }] }],
      exportTo: ['ns1', 'ns2', 'ns1'],
    },
    namespace: 'ns5',
  },
  {
    name: 'duplicate none in service entry exportTo is not okay',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['foo.bar'],
      ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
      exportTo: ['~', '~', 'ns1'],
    },
    namespace: 'ns5',
  },
  {
    name: 'invalid namespace names are not okay',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }] }],
      exportTo: ['ns1_'],
    },
    namespace: 'ns5',
  },
  {
    name: 'none and other namespaces cannot be combined in service entry exportTo',
    valid: false,
    kind: 'ServiceEntry',
    spec: {
      hosts: ['foo.bar'],
      ports: [{ number: 80, name: 'http', protocol: 'HTTP' }],
      exportTo: ['~', 'ns1'],
    },
    namespace: 'ns5',
  },
  {
    name: 'destination rule with workloadselector cannot have exportTo (*)',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', workloadSelector: { matchLabels: { app: 'reviews' } }, exportTo: ['*'] },
    namespace: 'ns5',
  },
  {
    name: 'destination rule with workloadselector can have only exportTo (.)',
    valid: true,
    kind: 'DestinationRule',
    spec: { host: 'reviews', workloadSelector: { matchLabels: { app: 'reviews' } }, exportTo: ['.'] },
    namespace: 'ns5',
  },
  {
    name: 'destination rule with workloadselector cannot have another ns in exportTo (.)',
    valid: false,
    kind: 'DestinationRule',
    spec: { host: 'reviews', workloadSelector: { matchLabels: { app: 'reviews' } }, exportTo: ['somens'] },
    namespace: 'ns5',
  },
  {
    name: 'destination rule with workloadselector cannot have another ns in addition to own ns in exportTo (.)',
    valid: false,
    kind: 'DestinationRule',
    spec: {
      host: 'reviews',
      workloadSelector: { matchLabels: { app: 'reviews' } },
      exportTo: ['.', 'somens'],
    },
    namespace: 'ns5',
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateHTTPHeaderValue', [
  ...[
    {
      name: 'foo',
      valid: true,
      kind: 'VirtualService',
      spec: {
        hosts: ['foo.bar'],
        http: [
          {
            route: [{ destination: { host: 'foo.baz' } }],
            headers: { request: { set: { 'x-value': 'foo' } } },
          },
        ],
      },
    },
    {
      name: '%HOSTNAME%',
      valid: true,
      kind: 'VirtualService',
      spec: {
        hosts: ['foo.bar'],
        http: [
          {
            route: [{ destination: { host: 'foo.baz' } }],
            headers: { request: { set: { 'x-value': '%HOSTNAME%' } } },
          },
        ],
      },
    },
    {
      name: '100%%',
      valid: true,
      kind: 'VirtualService',
      spec: {
        hosts: ['foo.bar'],
        http: [
          {
            route: [{ destination: { host: 'foo.baz' } }],
            headers: { request: { set: { 'x-value': '100%%' } } },
          },
        ],
      },
    },
    {
      name: 'prefix %HOSTNAME% suffix',
      valid: true,
      kind: 'VirtualService',
      spec: {
        hosts: ['foo.bar'],
        http: [
          {
            route: [{ destination: { host: 'foo.baz' } }],
            headers: { request: { set: { 'x-value': 'prefix %HOSTNAME% suffix' } } },
          },
        ],
      },
    },
    {
      name: '%DOWNSTREAM_PEER_CERT_V_END(%b %d %H:%M:%S %Y %Z)%',
      valid: true,
      kind: 'VirtualService',
      spec: {
        hosts: ['foo.bar'],
        http: [
          {
            route: [{ destination: { host: 'foo.baz' } }],
            headers: {
              request: { set: { 'x-value': '%DOWNSTREAM_PEER_CERT_V_END(%b %d %H:%M:%S %Y %Z)%' } },
            },
          },
        ],
      },
    },
    {
      name: '%DYNAMIC_METADATA(com.test.my_filter)%',
      valid: true,
      kind: 'VirtualService',
      spec: {
        hosts: ['foo.bar'],
        http: [
          {
            route: [{ destination: { host: 'foo.baz' } }],
            headers: { request: { set: { 'x-value': '%DYNAMIC_METADATA(com.test.my_filter)%' } } },
          },
        ],
      },
    },
  ],
  {
    name: '%START_TIME%%',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          headers: { request: { set: { 'x-value': '%START_TIME%%' } } },
        },
      ],
    },
  },
  {
    name: 'abc%123',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          headers: { request: { set: { 'x-value': 'abc%123' } } },
        },
      ],
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateHTTPHeaderName', [
  {
    name: 'header1',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { route: [{ destination: { host: 'foo.baz' } }], headers: { request: { set: { header1: 'v' } } } },
      ],
    },
  },
  {
    name: 'X-Requested-With',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          headers: { request: { set: { 'X-Requested-With': 'v' } } },
        },
      ],
    },
  },
  {
    name: ':authority',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          headers: { request: { set: { ':authority': 'v' } } },
        },
      ],
    },
  },
  {
    name: 'funky!$#_',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          headers: { request: { set: { 'funky!$#_': 'v' } } },
        },
      ],
    },
  },
  {
    name: '(empty)',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }], headers: { request: { set: { '': 'v' } } } }],
    },
  },
  {
    name: '::',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ route: [{ destination: { host: 'foo.baz' } }], headers: { request: { set: { '::': 'v' } } } }],
    },
  },
  {
    name: 'illegal"char',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          route: [{ destination: { host: 'foo.baz' } }],
          headers: { request: { set: { 'illegal"char': 'v' } } },
        },
      ],
    },
  },
]);

describeIstioCases('pkg/config/validation/virtualservice_test.go', 'TestValidateChainingVirtualService', [
  {
    name: 'root simple',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      gateways: ['test-gateway'],
      http: [{ delegate: { name: 'test', namespace: 'test' } }],
    },
  },
  {
    name: 'root applies to sidecar with delegate',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ delegate: { name: 'test', namespace: 'test' } }] },
  },
  {
    name: 'root with delegate and destination in one route',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { delegate: { name: 'test', namespace: 'test' }, route: [{ destination: { host: 'foo.baz' } }] },
      ],
    },
  },
  {
    name: 'delegate with no destination',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: [], http: [{}] },
  },
  {
    name: 'delegate with delegate',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: [], http: [{ delegate: { name: 'test', namespace: 'test' } }] },
  },
  {
    name: 'delegate with TCP route',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: [], tcp: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'delegate with gateway',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: [], gateways: ['test'], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'delegate with sourceNamespace',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [{ match: [{ sourceNamespace: 'test' }], route: [{ destination: { host: 'foo.baz' } }] }],
    },
  },
]);

describeIstioCases('pkg/config/validation/virtualservice_test.go', 'TestValidateRootHTTPRoute', [
  {
    name: 'simple',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ delegate: { name: 'test', namespace: 'test' } }] },
  },
  {
    name: 'route and delegate conflict',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { route: [{ destination: { host: 'foo.baz' } }], delegate: { name: 'test', namespace: 'test' } },
      ],
    },
  },
  {
    name: 'redirect and delegate conflict',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { redirect: { uri: '/lerp', authority: 'foo.biz' }, delegate: { name: 'test', namespace: 'test' } },
      ],
    },
  },
  {
    name: 'null header match',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ delegate: { name: 'test', namespace: 'test' }, match: [{ headers: { header: null } }] }],
    },
  },
  {
    name: 'prefix header match',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          delegate: { name: 'test', namespace: 'test' },
          match: [{ headers: { header: { prefix: 'test' } } }],
        },
      ],
    },
  },
  {
    name: 'empty prefix header match (delegate)',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { delegate: { name: 'test', namespace: 'test' }, match: [{ headers: { header: { prefix: '' } } }] },
      ],
    },
  },
  {
    name: 'exact header match',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          delegate: { name: 'test', namespace: 'test' },
          match: [{ headers: { header: { exact: 'test' } } }],
        },
      ],
    },
  },
  {
    name: 'regex header match',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          delegate: { name: 'test', namespace: 'test' },
          match: [{ headers: { header: { regex: 'test' } } }],
        },
      ],
    },
  },
  {
    name: 'exact without headers match',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          redirect: { uri: '/', authority: 'foo.biz' },
          match: [{ withoutHeaders: { header: { exact: 'test' } } }],
        },
      ],
    },
  },
  {
    name: 'regex without headers match',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          redirect: { uri: '/', authority: 'foo.biz' },
          match: [{ withoutHeaders: { header: { regex: 'test' } } }],
        },
      ],
    },
  },
  {
    name: 'regex without headers match ?',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          redirect: { uri: '/', authority: 'foo.biz' },
          match: [{ withoutHeaders: { header: { regex: '?' } } }],
        },
      ],
    },
  },
  {
    name: 'regex without headers match *',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          redirect: { uri: '/', authority: 'foo.biz' },
          match: [{ withoutHeaders: { header: { regex: '*' } } }],
        },
      ],
    },
  },
  {
    name: 'regex uri match',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ delegate: { name: 'test', namespace: 'test' }, match: [{ uri: { regex: 'test' } }] }],
    },
  },
  {
    name: 'prefix uri match',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ delegate: { name: 'test', namespace: 'test' }, match: [{ uri: { prefix: 'test' } }] }],
    },
  },
  {
    name: 'exact uri match',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ delegate: { name: 'test', namespace: 'test' }, match: [{ uri: { exact: 'test' } }] }],
    },
  },
  {
    name: 'prefix queryParams match',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        {
          delegate: { name: 'test', namespace: 'test' },
          match: [{ queryParams: { q: { prefix: 'test' } } }],
        },
      ],
    },
  },
  {
    name: 'exact queryParams match',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { delegate: { name: 'test', namespace: 'test' }, match: [{ queryParams: { q: { exact: 'test' } } }] },
      ],
    },
  },
  {
    name: 'regex queryParams match',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { delegate: { name: 'test', namespace: 'test' }, match: [{ headers: { q: { regex: 'test' } } }] },
      ],
    },
  },
  {
    name: 'empty prefix match in method',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ match: [{ method: { prefix: '' } }], redirect: { uri: '/', authority: 'foo.biz' } }],
    },
  },
  {
    name: 'empty regex match in method',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ match: [{ method: { regex: '' } }], redirect: { uri: '/', authority: 'foo.biz' } }],
    },
  },
  {
    name: 'empty prefix match in uri',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ match: [{ uri: { prefix: '' } }], redirect: { uri: '/', authority: 'foo.biz' } }],
    },
  },
  {
    name: 'empty regex match in uri',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ match: [{ uri: { regex: '' } }], redirect: { uri: '/', authority: 'foo.biz' } }],
    },
  },
  {
    name: 'empty regex match in query',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [
        { match: [{ queryParams: { q: { regex: '' } } }], redirect: { uri: '/', authority: 'foo.biz' } },
      ],
    },
  },
  {
    name: 'empty regex match in scheme',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ match: [{ scheme: { regex: '' } }], redirect: { uri: '/', authority: 'foo.biz' } }],
    },
  },
  {
    name: 'empty prefix match in scheme',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: ['foo.bar'],
      http: [{ match: [{ scheme: { prefix: '' } }], redirect: { uri: '/', authority: 'foo.biz' } }],
    },
  },
  {
    name: 'empty prefix header match',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: ['foo.bar'], http: [{ match: [{ headers: { header: { prefix: '' } } }] }] },
  },
]);

describeIstioCases('pkg/config/validation/virtualservice_test.go', 'TestValidateDelegateHTTPRoute', [
  { name: 'empty', valid: false, kind: 'VirtualService', spec: { hosts: [], http: [{}] } },
  {
    name: 'simple',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: [], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'no destination',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: [], http: [{ route: [{}] }] },
  },
  {
    name: 'weighted',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz.south' }, weight: 25 },
            { destination: { host: 'foo.baz.east' }, weight: 75 },
          ],
        },
      ],
    },
  },
  {
    name: 'total weight > 100',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz.south' }, weight: 55 },
            { destination: { host: 'foo.baz.east' }, weight: 50 },
          ],
        },
      ],
    },
  },
  {
    name: 'total weight < 100',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [
        {
          route: [
            { destination: { host: 'foo.baz.south' }, weight: 49 },
            { destination: { host: 'foo.baz.east' }, weight: 50 },
          ],
        },
      ],
    },
  },
  {
    name: 'simple redirect',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: [], http: [{ redirect: { uri: '/lerp', authority: 'foo.biz' } }] },
  },
  {
    name: 'conflicting redirect and route',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [
        { route: [{ destination: { host: 'foo.baz' } }], redirect: { uri: '/lerp', authority: 'foo.biz' } },
      ],
    },
  },
  {
    name: 'request response headers',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: [], http: [{ route: [{ destination: { host: 'foo.baz' } }] }] },
  },
  {
    name: 'valid headers',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [
        {
          route: [
            {
              destination: { host: 'foo.baz' },
              headers: {
                request: { add: { name: '' }, set: { name: '' }, remove: ['name'] },
                response: { add: { name: '' }, set: { name: '' }, remove: ['name'] },
              },
            },
          ],
        },
      ],
    },
  },
  {
    name: 'empty header name - request add',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [
        { route: [{ destination: { host: 'foo.baz' }, headers: { request: { add: { '': 'value' } } } }] },
      ],
    },
  },
  {
    name: 'empty header name - request set',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [
        { route: [{ destination: { host: 'foo.baz' }, headers: { request: { set: { '': 'value' } } } }] },
      ],
    },
  },
  {
    name: 'empty header name - request remove',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [{ route: [{ destination: { host: 'foo.baz' }, headers: { request: { remove: [''] } } }] }],
    },
  },
  {
    name: 'empty header name - response add',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [
        { route: [{ destination: { host: 'foo.baz' }, headers: { response: { add: { '': 'value' } } } }] },
      ],
    },
  },
  {
    name: 'empty header name - response set',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [
        { route: [{ destination: { host: 'foo.baz' }, headers: { response: { set: { '': 'value' } } } }] },
      ],
    },
  },
  {
    name: 'empty header name - response remove',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [{ route: [{ destination: { host: 'foo.baz' }, headers: { response: { remove: [''] } } }] }],
    },
  },
  {
    name: 'null header match',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [{ route: [{ destination: { host: 'foo.bar' } }], match: [{ headers: { header: null } }] }],
    },
  },
  {
    name: 'nil match',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: [], http: [{ route: [{ destination: { host: 'foo.bar' } }] }] },
  },
  {
    name: 'match with nil element',
    valid: true,
    kind: 'VirtualService',
    spec: { hosts: [], http: [{ route: [{ destination: { host: 'foo.bar' } }], match: [{}] }] },
  },
  {
    name: 'invalid mirror percent',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [{ mirrorPercent: 101, route: [{ destination: { host: 'foo.bar' } }], match: [{}] }],
    },
  },
  {
    name: 'invalid mirror percentage',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [
        { mirrorPercentage: { value: 101 }, route: [{ destination: { host: 'foo.bar' } }], match: [{}] },
      ],
    },
  },
  {
    name: 'valid mirror percentage',
    valid: true,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [{ mirrorPercentage: { value: 1 }, route: [{ destination: { host: 'foo.bar' } }], match: [{}] }],
    },
  },
  {
    name: 'negative mirror percentage',
    valid: false,
    kind: 'VirtualService',
    spec: {
      hosts: [],
      http: [{ mirrorPercentage: { value: -1 }, route: [{ destination: { host: 'foo.bar' } }], match: [{}] }],
    },
  },
  {
    name: 'delegate route with delegate',
    valid: false,
    kind: 'VirtualService',
    spec: { hosts: [], http: [{ delegate: { name: 'test', namespace: 'test' } }] },
  },
]);
