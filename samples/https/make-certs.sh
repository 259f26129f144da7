#!/usr/bin/env bash
# Makes the certificates of the secure-ingress and TLS-passthrough samples with the openssl CLI, in the
# manner of Istio's secure-ingress task: an example.com root CA, server certificates for
# httpbin.example.com, helloworld.example.com and nginx.example.com, and a client certificate.
#
#   samples/https/make-certs.sh [out-dir]          (default: samples/https/certs, git-ignored)
#
# Writes <out-dir>/*.crt|*.key and a --credentials-dir layout in <out-dir>/credentials:
#   httpbin-credential/tls.crt, tls.key      (credentialName: httpbin-credential)
#   httpbin-credential-cacert/ca.crt         (client CA for MUTUAL, Istio's "-cacert" convention)
#   helloworld-credential/tls.crt, tls.key   (credentialName: helloworld-credential)
# Test material only: RSA 2048, valid 365 days, keys unencrypted. Re-running replaces everything.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/certs}"
command -v openssl >/dev/null || { echo "make-certs.sh: openssl is required" >&2; exit 1; }
mkdir -p "$out"
cd "$out"

# Root CA: /O=example Inc./CN=example.com
openssl req -x509 -sha256 -nodes -days 365 -newkey rsa:2048 \
  -subj '/O=example Inc./CN=example.com' \
  -addext 'basicConstraints=critical,CA:TRUE' -addext 'keyUsage=critical,keyCertSign,cRLSign' \
  -keyout example.com.key -out example.com.crt 2>/dev/null

# leaf <name> <subject> <eku> <san>: key + certificate signed by the root CA.
leaf() {
  local name="$1" subject="$2" eku="$3" san="$4"
  openssl req -newkey rsa:2048 -nodes -subj "$subject" -keyout "$name.key" -out "$name.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=%s\nsubjectAltName=%s\n' \
    "$eku" "$san" >"$name.ext"
  openssl x509 -req -sha256 -days 365 -CA example.com.crt -CAkey example.com.key -set_serial "0x$(openssl rand -hex 8)" \
    -in "$name.csr" -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

leaf httpbin.example.com '/CN=httpbin.example.com/O=httpbin organization' serverAuth 'DNS:httpbin.example.com'
leaf helloworld.example.com '/CN=helloworld.example.com/O=helloworld organization' serverAuth 'DNS:helloworld.example.com'
leaf nginx.example.com '/CN=nginx.example.com/O=some organization' serverAuth 'DNS:nginx.example.com'
leaf client.example.com '/CN=client.example.com/O=client organization' clientAuth \
  'DNS:client.example.com,URI:spiffe://cluster.local/ns/default/sa/client'

# The credentials folder: what kubelet mounts for a kubernetes.io/tls Secret, one folder per credentialName.
creds="$out/credentials"
rm -rf "$creds"
mkdir -p "$creds/httpbin-credential" "$creds/httpbin-credential-cacert" "$creds/helloworld-credential"
cp httpbin.example.com.crt "$creds/httpbin-credential/tls.crt"
cp httpbin.example.com.key "$creds/httpbin-credential/tls.key"
cp example.com.crt "$creds/httpbin-credential-cacert/ca.crt"
cp helloworld.example.com.crt "$creds/helloworld-credential/tls.crt"
cp helloworld.example.com.key "$creds/helloworld-credential/tls.key"
chmod 600 ./*.key "$creds"/*/tls.key

echo "certificates in $out; credentials in $creds"
for c in example.com httpbin.example.com helloworld.example.com nginx.example.com client.example.com; do
  printf '  %-26s %s\n' "$c.crt" "$(openssl x509 -in "$c.crt" -noout -subject)"
done
