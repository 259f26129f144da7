/**
 * Istio's webhook validation cases for Gateway resources, ported as facts (each case's
 * configuration and whether Istio accepts it), one table per Istio test function. Each case runs
 * through meshgate's schema and field validation as a whole resource.
 */
import { describeIstioCases } from './validation-harness.js';

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateGateway', [
  { name: 'empty', valid: false, kind: 'Gateway', spec: {} },
  {
    name: 'happy domain',
    valid: true,
    kind: 'Gateway',
    spec: { servers: [{ hosts: ['foo.bar.com'], port: { name: 'name1', number: 7, protocol: 'http' } }] },
  },
  {
    name: 'happy multiple servers',
    valid: true,
    kind: 'Gateway',
    spec: { servers: [{ hosts: ['foo.bar.com'], port: { name: 'name1', number: 7, protocol: 'http' } }] },
  },
  {
    name: 'happy k8s gateway-api server with no attached routes',
    valid: false,
    kind: 'Gateway',
    spec: { servers: [{ hosts: ['~/foo.bar.com'], port: { name: 'name1', number: 7, protocol: 'http' } }] },
  },
  {
    name: 'invalid port',
    valid: false,
    kind: 'Gateway',
    spec: { servers: [{ hosts: ['foo.bar.com'], port: { name: 'name1', number: 66000, protocol: 'http' } }] },
  },
  {
    name: 'duplicate port names',
    valid: false,
    kind: 'Gateway',
    spec: {
      servers: [
        { hosts: ['foo.bar.com'], port: { name: 'foo', number: 80, protocol: 'http' } },
        { hosts: ['scooby.doo.com'], port: { name: 'foo', number: 8080, protocol: 'http' } },
      ],
    },
  },
  {
    name: 'invalid domain',
    valid: false,
    kind: 'Gateway',
    spec: { servers: [{ hosts: ['foo.*.bar.com'], port: { number: 7, protocol: 'http' } }] },
  },
  {
    name: 'valid httpsRedirect',
    valid: true,
    kind: 'Gateway',
    spec: {
      servers: [
        {
          hosts: ['bar.com'],
          port: { name: 'http', number: 80, protocol: 'http' },
          tls: { httpsRedirect: true },
        },
      ],
    },
  },
  {
    name: 'invalid https httpsRedirect',
    valid: true,
    kind: 'Gateway',
    spec: {
      servers: [
        {
          hosts: ['bar.com'],
          port: { name: 'https', number: 80, protocol: 'https' },
          tls: { httpsRedirect: true },
        },
      ],
    },
  },
  {
    name: 'invalid partial wildcard',
    valid: false,
    kind: 'Gateway',
    spec: {
      servers: [
        {
          hosts: ['*bar.com'],
          port: { name: 'tls', number: 443, protocol: 'tls' },
          tls: { mode: 'ISTIO_MUTUAL' },
        },
      ],
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateServer', [
  { name: 'empty', valid: false, kind: 'Gateway', spec: { servers: [{}] } },
  { name: 'empty', valid: false, kind: 'Gateway', spec: { servers: [{}] } },
  {
    name: 'happy',
    valid: true,
    kind: 'Gateway',
    spec: { servers: [{ hosts: ['foo.bar.com'], port: { number: 7, name: 'http', protocol: 'http' } }] },
  },
  {
    name: 'happy ip',
    valid: true,
    kind: 'Gateway',
    spec: { servers: [{ hosts: ['1.1.1.1'], port: { number: 7, name: 'http', protocol: 'http' } }] },
  },
  {
    name: 'happy ns/name',
    valid: true,
    kind: 'Gateway',
    spec: { servers: [{ hosts: ['ns1/foo.bar.com'], port: { number: 7, name: 'http', protocol: 'http' } }] },
  },
  {
    name: 'happy */name',
    valid: true,
    kind: 'Gateway',
    spec: { servers: [{ hosts: ['*/foo.bar.com'], port: { number: 7, name: 'http', protocol: 'http' } }] },
  },
  {
    name: 'happy ./name',
    valid: true,
    kind: 'Gateway',
    spec: { servers: [{ hosts: ['./foo.bar.com'], port: { number: 7, name: 'http', protocol: 'http' } }] },
  },
  {
    name: 'invalid ~/name',
    valid: false,
    kind: 'Gateway',
    spec: { servers: [{ hosts: ['~/foo.bar.com'], port: { number: 7, name: 'http', protocol: 'http' } }] },
  },
  {
    name: 'invalid domain ns/name format',
    valid: false,
    kind: 'Gateway',
    spec: {
      servers: [{ hosts: ['ns1/foo.*.bar.com'], port: { number: 7, name: 'http', protocol: 'http' } }],
    },
  },
  {
    name: 'invalid domain',
    valid: false,
    kind: 'Gateway',
    spec: { servers: [{ hosts: ['foo.*.bar.com'], port: { number: 7, name: 'http', protocol: 'http' } }] },
  },
  {
    name: 'invalid short name host',
    valid: false,
    kind: 'Gateway',
    spec: { servers: [{ hosts: ['foo'], port: { number: 7, name: 'http', protocol: 'http' } }] },
  },
  {
    name: 'invalid port',
    valid: false,
    kind: 'Gateway',
    spec: { servers: [{ hosts: ['foo.bar.com'], port: { number: 66000, name: 'http', protocol: 'http' } }] },
  },
  {
    name: 'invalid tls options',
    valid: false,
    kind: 'Gateway',
    spec: {
      servers: [
        {
          hosts: ['foo.bar.com'],
          port: { number: 1, name: 'http', protocol: 'http' },
          tls: { mode: 'SIMPLE' },
        },
      ],
    },
  },
  {
    name: 'no tls on HTTPS',
    valid: false,
    kind: 'Gateway',
    spec: {
      servers: [{ hosts: ['foo.bar.com'], port: { number: 10000, name: 'https', protocol: 'https' } }],
    },
  },
  {
    name: 'tls on HTTP',
    valid: false,
    kind: 'Gateway',
    spec: {
      servers: [
        {
          hosts: ['foo.bar.com'],
          port: { number: 10000, name: 'http', protocol: 'http' },
          tls: { mode: 'SIMPLE' },
        },
      ],
    },
  },
  {
    name: 'tls redirect on HTTP',
    valid: true,
    kind: 'Gateway',
    spec: {
      servers: [
        {
          hosts: ['foo.bar.com'],
          port: { number: 10000, name: 'http', protocol: 'http' },
          tls: { httpsRedirect: true },
        },
      ],
    },
  },
  {
    name: 'bind ip',
    valid: true,
    kind: 'Gateway',
    spec: {
      servers: [
        { hosts: ['foo.bar.com'], port: { number: 7, name: 'http', protocol: 'http' }, bind: '127.0.0.1' },
      ],
    },
  },
  {
    name: 'bind unix path with invalid port',
    valid: false,
    kind: 'Gateway',
    spec: {
      servers: [
        {
          hosts: ['foo.bar.com'],
          port: { number: 7, name: 'http', protocol: 'http' },
          bind: 'unix://@foobar',
        },
      ],
    },
  },
  {
    name: 'bind unix path',
    valid: true,
    kind: 'Gateway',
    spec: {
      servers: [
        {
          hosts: ['foo.bar.com'],
          port: { number: 0, name: 'http', protocol: 'http' },
          bind: 'unix://@foobar',
        },
      ],
    },
  },
  {
    name: 'bind bad ip',
    valid: false,
    kind: 'Gateway',
    spec: {
      servers: [
        { hosts: ['foo.bar.com'], port: { number: 0, name: 'http', protocol: 'http' }, bind: 'foo.bar' },
      ],
    },
  },
]);

describeIstioCases('pkg/config/validation/validation_test.go', 'TestValidateServerPort', [
  ...[
    {
      name: 'empty',
      valid: false,
      kind: 'Gateway',
      spec: { servers: [{ hosts: ['foo.bar.com'], port: {} }] },
    },
    {
      name: 'empty',
      valid: false,
      kind: 'Gateway',
      spec: { servers: [{ hosts: ['foo.bar.com'], port: {} }] },
    },
    {
      name: 'happy',
      valid: true,
      kind: 'Gateway',
      spec: { servers: [{ hosts: ['foo.bar.com'], port: { protocol: 'http', number: 1, name: 'Henry' } }] },
    },
    {
      name: 'invalid protocol',
      valid: false,
      kind: 'Gateway',
      spec: { servers: [{ hosts: ['foo.bar.com'], port: { protocol: 'kafka', number: 1, name: 'Henry' } }] },
    },
    {
      name: 'name, no number',
      valid: false,
      kind: 'Gateway',
      spec: { servers: [{ hosts: ['foo.bar.com'], port: { protocol: 'http', number: 0, name: 'Henry' } }] },
    },
    {
      name: 'name, no number, uds',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { protocol: 'http', number: 0, name: 'Henry' },
            bind: 'uds:///tmp',
          },
        ],
      },
    },
  ],
  {
    name: 'invalid port',
    valid: false,
    kind: 'Gateway',
    spec: {
      servers: [{ hosts: ['foo.bar.com'], port: { number: 2 ** 30, name: 'http', protocol: 'http' } }],
    },
  },
]);

describeIstioCases(
  'pkg/config/validation/validation_test.go',
  'TestValidateTlsOptions',
  [
    {
      name: 'empty',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          { hosts: ['foo.bar.com'], port: { number: 443, name: 'https', protocol: 'HTTPS' }, tls: {} },
        ],
      },
    },
    {
      name: 'simple',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'SIMPLE',
              serverCertificate: 'Captain Jean-Luc Picard',
              privateKey: 'Khan Noonien Singh',
            },
          },
        ],
      },
    },
    {
      name: 'simple with client bundle',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'SIMPLE',
              serverCertificate: 'Captain Jean-Luc Picard',
              privateKey: 'Khan Noonien Singh',
              caCertificates: 'Commander William T. Riker',
            },
          },
        ],
      },
    },
    {
      name: 'simple sds with client bundle',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'SIMPLE', credentialName: 'sds-name' },
          },
        ],
      },
    },
    {
      name: 'simple sds with client bundle but with server cert',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'SIMPLE',
              serverCertificate: 'Captain Jean-Luc Picard',
              privateKey: 'Khan Noonien Singh',
              credentialName: 'sds-name',
            },
          },
        ],
      },
    },
    {
      name: 'simple no server cert',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'SIMPLE', serverCertificate: '', privateKey: 'Khan Noonien Singh' },
          },
        ],
      },
    },
    {
      name: 'simple no private key',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'SIMPLE', serverCertificate: 'Captain Jean-Luc Picard', privateKey: '' },
          },
        ],
      },
    },
    {
      name: 'simple more than 2 certs',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'SIMPLE',
              tlsCertificates: [
                { serverCertificate: 'Captain Jean-Luc Picard', privateKey: 'Khan Noonien Singh' },
                { serverCertificate: 'Commander William T. Riker', privateKey: 'Commander William T. Riker' },
                { serverCertificate: 'Lieutenant Commander Data', privateKey: 'Lieutenant Commander Data' },
              ],
            },
          },
        ],
      },
    },
    {
      name: 'simple with both server cert and tls certs',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'SIMPLE',
              serverCertificate: 'Captain Jean-Luc Picard',
              privateKey: 'Khan Noonien Singh',
              tlsCertificates: [
                { serverCertificate: 'Captain Jean-Luc Picard', privateKey: 'Khan Noonien Singh' },
                { serverCertificate: 'Lieutenant Commander Data', privateKey: 'Lieutenant Commander Data' },
              ],
            },
          },
        ],
      },
    },
    {
      name: 'simple 2 certs with missing certificate',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'SIMPLE',
              tlsCertificates: [
                { privateKey: 'Commander William T. Riker' },
                { serverCertificate: 'Commander William T. Riker', privateKey: 'Commander William T. Riker' },
              ],
            },
          },
        ],
      },
    },
    {
      name: 'simple 2 certs with missing private key',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'SIMPLE',
              tlsCertificates: [
                { serverCertificate: 'Captain Jean-Luc Picard' },
                { serverCertificate: 'Commander William T. Riker', privateKey: 'Commander William T. Riker' },
              ],
            },
          },
        ],
      },
    },
    {
      name: 'simple sds no server cert',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'SIMPLE',
              serverCertificate: '',
              privateKey: 'Khan Noonien Singh',
              credentialName: 'sds-name',
            },
          },
        ],
      },
    },
    {
      name: 'simple sds no private key',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'SIMPLE',
              serverCertificate: 'Captain Jean-Luc Picard',
              privateKey: '',
              credentialName: 'sds-name',
            },
          },
        ],
      },
    },
    {
      name: 'mutual',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              serverCertificate: 'Captain Jean-Luc Picard',
              privateKey: 'Khan Noonien Singh',
              caCertificates: 'Commander William T. Riker',
            },
          },
        ],
      },
    },
    {
      name: 'mutual sds',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'MUTUAL', caCertificates: 'Commander William T. Riker', credentialName: 'sds-name' },
          },
        ],
      },
    },
    {
      name: 'mutual sds with credential name and server cert',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              serverCertificate: 'Captain Jean-Luc Picard',
              privateKey: 'Khan Noonien Singh',
              caCertificates: 'Commander William T. Riker',
              credentialName: 'sds-name',
            },
          },
        ],
      },
    },
    {
      name: 'mutual sds with credential name and tls certs',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              caCertificates: 'Commander William T. Riker',
              tlsCertificates: [
                { serverCertificate: 'Captain Jean-Luc Picard', privateKey: 'Khan Noonien Singh' },
              ],
              credentialName: 'sds-name',
            },
          },
        ],
      },
    },
    {
      name: 'mutual no server cert',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              serverCertificate: '',
              privateKey: 'Khan Noonien Singh',
              caCertificates: 'Commander William T. Riker',
            },
          },
        ],
      },
    },
    {
      name: 'credential names and certificates',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              serverCertificate: '/etc/istio/certs/server/cert',
              privateKey: '/etc/istio/certs/server/key',
              credentialNames: ['server-certs'],
            },
          },
        ],
      },
    },
    {
      name: 'credential names and tls certificates',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              tlsCertificates: [
                {
                  serverCertificate: '/etc/istio/certs/server/cert',
                  privateKey: '/etc/istio/certs/server/key',
                  caCertificates: '/etc/istio/certs/server/cacert2',
                },
              ],
              credentialNames: ['server-certs'],
            },
          },
        ],
      },
    },
    {
      name: 'only tls certificates',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              tlsCertificates: [
                {
                  serverCertificate: '/etc/istio/certs/server/cert',
                  privateKey: '/etc/istio/certs/server/key',
                },
              ],
              caCertificates: '/etc/istio/certs/server/cacert2',
            },
          },
        ],
      },
    },
    {
      name: 'mutual sds no server cert',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              serverCertificate: '',
              privateKey: 'Khan Noonien Singh',
              caCertificates: 'Commander William T. Riker',
              credentialName: 'sds-name',
            },
          },
        ],
      },
    },
    {
      name: 'mutual no client CA bundle',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              serverCertificate: 'Captain Jean-Luc Picard',
              privateKey: 'Khan Noonien Singh',
              caCertificates: '',
            },
          },
        ],
      },
    },
    {
      name: 'mutual no certs',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'MUTUAL', serverCertificate: '', privateKey: '', caCertificates: '' },
          },
        ],
      },
    },
    {
      name: 'mutual no certs',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'MUTUAL', serverCertificate: '', privateKey: '', caCertificates: '' },
          },
        ],
      },
    },
    {
      name: 'mutual no certs',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'MUTUAL', serverCertificate: '', privateKey: '', caCertificates: '' },
          },
        ],
      },
    },
    {
      name: 'mutual more than 2 certs',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              caCertificates: 'Commander William T. Riker',
              tlsCertificates: [
                { serverCertificate: 'Captain Jean-Luc Picard', privateKey: 'Khan Noonien Singh' },
                { serverCertificate: 'Commander William T. Riker', privateKey: 'Commander William T. Riker' },
                { serverCertificate: 'Lieutenant Commander Data', privateKey: 'Lieutenant Commander Data' },
              ],
            },
          },
        ],
      },
    },
    {
      name: 'mutual with both server cert and tls certs',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              serverCertificate: 'Captain Jean-Luc Picard',
              privateKey: 'Khan Noonien Singh',
              caCertificates: 'Commander William T. Riker',
              tlsCertificates: [
                { serverCertificate: 'Captain Jean-Luc Picard', privateKey: 'Khan Noonien Singh' },
                { serverCertificate: 'Lieutenant Commander Data', privateKey: 'Lieutenant Commander Data' },
              ],
            },
          },
        ],
      },
    },
    {
      name: 'mutual 2 certs with missing certificate',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              caCertificates: 'Lieutenant Commander Data',
              tlsCertificates: [
                { privateKey: 'Commander William T. Riker' },
                { serverCertificate: 'Commander William T. Riker', privateKey: 'Commander William T. Riker' },
              ],
            },
          },
        ],
      },
    },
    {
      name: 'mutual 2 certs with missing private key',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              caCertificates: 'Lieutenant Commander Data',
              tlsCertificates: [
                { serverCertificate: 'Captain Jean-Luc Picard' },
                { serverCertificate: 'Commander William T. Riker', privateKey: 'Commander William T. Riker' },
              ],
            },
          },
        ],
      },
    },
    {
      name: 'mutual 2 certs with missing CA certificate',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              tlsCertificates: [
                { serverCertificate: 'Captain Jean-Luc Picard', privateKey: 'Khan Noonien Singh' },
                { serverCertificate: 'Commander William T. Riker', privateKey: 'Commander William T. Riker' },
              ],
            },
          },
        ],
      },
    },
    {
      name: 'optional mutual no certs',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'OPTIONAL_MUTUAL', serverCertificate: '', privateKey: '', caCertificates: '' },
          },
        ],
      },
    },
    {
      name: 'optional mutual no certs',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'OPTIONAL_MUTUAL', serverCertificate: '', privateKey: '', caCertificates: '' },
          },
        ],
      },
    },
    {
      name: 'optional mutual no certs',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'OPTIONAL_MUTUAL', serverCertificate: '', privateKey: '', caCertificates: '' },
          },
        ],
      },
    },
    {
      name: 'pass through sds no certs',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'PASSTHROUGH',
              serverCertificate: '',
              caCertificates: '',
              credentialName: 'sds-name',
            },
          },
        ],
      },
    },
    {
      name: 'pass through sds crl',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'PASSTHROUGH', serverCertificate: '', caCertificates: '', caCrl: 'scrl' },
          },
        ],
      },
    },
    {
      name: 'istio_mutual no certs',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'ISTIO_MUTUAL', serverCertificate: '', privateKey: '', caCertificates: '' },
          },
        ],
      },
    },
    {
      name: 'istio_mutual with server cert',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'ISTIO_MUTUAL', serverCertificate: 'Captain Jean-Luc Picard' },
          },
        ],
      },
    },
    {
      name: 'istio_mutual with client bundle',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'ISTIO_MUTUAL',
              serverCertificate: 'Captain Jean-Luc Picard',
              privateKey: 'Khan Noonien Singh',
              caCertificates: 'Commander William T. Riker',
            },
          },
        ],
      },
    },
    {
      name: 'istio_mutual with private key',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'ISTIO_MUTUAL', privateKey: 'Khan Noonien Singh' },
          },
        ],
      },
    },
    {
      name: 'istio_mutual with credential name',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'ISTIO_MUTUAL', credentialName: 'some-cred' },
          },
        ],
      },
    },
    {
      name: 'invalid cipher suites',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'SIMPLE', credentialName: 'sds-name', cipherSuites: ['not-a-cipher-suite'] },
          },
        ],
      },
    },
    {
      name: 'valid cipher suites',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'SIMPLE', credentialName: 'sds-name', cipherSuites: ['ECDHE-ECDSA-AES128-SHA'] },
          },
        ],
      },
    },
    {
      name: 'cipher suites operations',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'SIMPLE', credentialName: 'sds-name', cipherSuites: ['-ECDHE-ECDSA-AES128-SHA'] },
          },
        ],
      },
    },
    {
      name: 'duplicate cipher suites',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'SIMPLE',
              credentialName: 'sds-name',
              cipherSuites: ['ECDHE-ECDSA-AES128-SHA', 'ECDHE-ECDSA-AES128-SHA'],
            },
          },
        ],
      },
    },
    {
      name: 'invalid cipher suites with invalid config',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'SIMPLE', cipherSuites: ['not-a-cipher-suite'] },
          },
        ],
      },
    },
    {
      name: 'crl specified for SIMPLE TLS',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'SIMPLE', caCrl: 'crl' },
          },
        ],
      },
    },
    {
      name: 'crl specified for CredentialName',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'SIMPLE', caCrl: 'crl', credentialName: 'credential' },
          },
        ],
      },
    },
    {
      name: 'mutual no server cert',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              serverCertificate: '',
              privateKey: 'Khan Noonien Singh',
              caCertificates: 'Commander William T. Riker',
            },
          },
        ],
      },
    },
    {
      name: 'mutual no private key',
      valid: false,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: {
              mode: 'MUTUAL',
              serverCertificate: 'Khan Noonien Singh',
              privateKey: '',
              caCertificates: 'Commander William T. Riker',
            },
          },
        ],
      },
    },
    {
      name: 'with CredentialNames',
      valid: true,
      kind: 'Gateway',
      spec: {
        servers: [
          {
            hosts: ['foo.bar.com'],
            port: { number: 443, name: 'https', protocol: 'HTTPS' },
            tls: { mode: 'MUTUAL', credentialNames: ['credential1', 'credential2'] },
          },
        ],
      },
    },
  ],
  {
    'simple more than 2 certs':
      'the CRD schema (tlsCertificates maxItems 2) refuses it before the webhook runs; meshgate applies the schema',
    'mutual more than 2 certs':
      'the CRD schema (tlsCertificates maxItems 2) refuses it before the webhook runs; meshgate applies the schema',
  },
);
