/**
 * Redirect locations as Envoy's `RedirectAction` builds them from Istio's `HTTPRedirect`
 * (uri, authority, scheme, port, derivePort) and `tls.httpsRedirect`.
 */
import { describe, expect, it } from 'vitest';
import {
  httpsRedirectLocation,
  redirectLocation,
  type RedirectAction,
} from '../../../gateway/http/redirect.js';

function action(a: Partial<RedirectAction>): RedirectAction {
  return {
    kind: 'redirect',
    uri: undefined,
    prefixRewrite: undefined,
    authority: undefined,
    scheme: undefined,
    port: undefined,
    deriveFromRequestPort: false,
    status: 301,
    ...a,
  };
}

describe('redirectLocation', () => {
  it('replaces the path and keeps the query unless the new uri has one', () => {
    expect(redirectLocation(action({ uri: '/new' }), 'http', 'a.example', '/old?x=1', undefined)).toBe(
      'http://a.example/new?x=1',
    );
    expect(redirectLocation(action({ uri: '/new?y=2' }), 'http', 'a.example', '/old?x=1', undefined)).toBe(
      'http://a.example/new?y=2',
    );
  });

  it('a prefix rewrite replaces the matched prefix and keeps the rest and the query', () => {
    const a = action({ prefixRewrite: '/v2' });
    expect(redirectLocation(a, 'http', 'a.example', '/v1/items?x=1', '/v1')).toBe(
      'http://a.example/v2/items?x=1',
    );
  });

  it('sets authority, scheme and the compiled port; a scheme switch drops the default port', () => {
    expect(
      redirectLocation(action({ authority: 'b.example' }), 'http', 'a.example:8080', '/p', undefined),
    ).toBe('http://b.example/p');
    expect(redirectLocation(action({ scheme: 'https' }), 'http', 'a.example:80', '/p', undefined)).toBe(
      'https://a.example/p',
    );
    expect(
      redirectLocation(action({ port: 8443, scheme: 'https' }), 'http', 'a.example', '/p', undefined),
    ).toBe('https://a.example:8443/p');
    expect(redirectLocation(action({ port: 9000 }), 'http', '[::1]:80', '/p', undefined)).toBe(
      'http://[::1]:9000/p',
    );
    expect(redirectLocation(action({}), 'http', 'a.example:8080', '/p', undefined)).toBe(
      'http://a.example:8080/p',
    );
  });
});

describe('httpsRedirectLocation', () => {
  it('keeps host and target, drops :80', () => {
    expect(httpsRedirectLocation('a.example:80', '/x?q')).toBe('https://a.example/x?q');
    expect(httpsRedirectLocation('a.example:8080', '/x')).toBe('https://a.example:8080/x');
  });
});
