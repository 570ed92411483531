#!/bin/sh
# Regenerates the test PKI (a CA, a server certificate for localhost/127.0.0.1 and a client
# certificate for mutual TLS). Valid for 100 years; test use only, never deploy these keys.
set -e
cd "$(dirname "$0")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500 \
  -subj "/CN=espnow-bridge test CA" -keyout ca.key -out ca.pem
for who in server client; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=espnow-$who" \
    -keyout $who.key -out $who.csr
  if [ $who = server ]; then ext="subjectAltName=DNS:localhost,IP:127.0.0.1"; else ext="extendedKeyUsage=clientAuth"; fi
  printf '%s\n' "$ext" > $who.ext
  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 36500 -extfile $who.ext -out $who.pem
  rm -f $who.csr $who.ext
done
rm -f ca.srl
