#!/bin/sh
# Generates the test PKI into DIR (argument) with the openssl CLI, fresh on every run:
#   ca        root CA (RSA 2048, SHA-256)
#   inter     intermediate CA signed by ca; inter-old: the same name with another key
#   leaf-*    server certificates signed by inter (files NAME.pem, NAME.key):
#     cn        CN=localhost, no SAN
#     dns       SAN DNS:exchange.test
#     ip4       SAN IP:127.0.0.1
#     ip6       SAN IP:::1
#     wild      SAN DNS:*.exchange.test
#     wrong     SAN DNS:other.test
#     expired   SAN DNS:exchange.test, valid 2020-2021
#     future    SAN DNS:exchange.test, valid from 2099
#     sha1      SAN DNS:exchange.test, signed with SHA-1
#     rsa1024   SAN DNS:exchange.test, RSA 1024-bit key
#     rekeyed   SAN DNS:exchange.test, signed by inter-old's key: its signature does not
#               match the key of the (re-issued) intermediate the server presents
#     self      self-signed, SAN DNS:exchange.test, not a CA
#   chain-inter.pem      inter alone; chain-full.pem: inter then ca
set -eu
dir=$1
mkdir -p "$dir"
cd "$dir"

key() { # FILE BITS
    openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$2" -out "$1" 2>/dev/null
}

cat >ca.cnf <<'CNF'
[ca]
default_ca = this
[this]
database = index.txt
serial = serial
new_certs_dir = newcerts
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[v3_inter]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf_common]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
[v3_cn]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
[v3_dns]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:exchange.test
[v3_dns_noakid]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:exchange.test
authorityKeyIdentifier = none
subjectKeyIdentifier = none
[v3_ip4]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
[v3_ip6]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:::1
[v3_wild]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:*.exchange.test
[v3_wrong]
basicConstraints = CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.test
CNF
mkdir -p newcerts
: >index.txt
echo 1000 >serial

# ca CN ISSUER_CERT ISSUER_KEY EXT NAME [extra openssl ca options]
sign() {
    cn=$1 icert=$2 ikey=$3 ext=$4 name=$5
    shift 5
    openssl req -new -config ca.cnf -key "$name.key" -subj "/CN=$cn" -out "$name.csr"
    openssl ca -batch -config ca.cnf -notext -cert "$icert" -keyfile "$ikey" \
        -extensions "$ext" -in "$name.csr" -out "$name.pem" "$@" 2>/dev/null
}

key ca.key 2048
openssl req -new -x509 -config ca.cnf -key ca.key -subj "/CN=Calpresence Test Root" \
    -extensions v3_ca -days 3650 -sha256 -out ca.pem
key inter.key 2048
sign "Calpresence Test Intermediate" ca.pem ca.key v3_inter inter -days 3650 -md sha256
key inter-old.key 2048
sign "Calpresence Test Intermediate" ca.pem ca.key v3_inter inter-old -days 3650 -md sha256

leaf() { # NAME CN EXT BITS [openssl ca options]
    name=$1 cn=$2 ext=$3 bits=$4
    shift 4
    key "$name.key" "$bits"
    sign "$cn" inter.pem inter.key "$ext" "$name" "$@"
}
leaf leaf-cn localhost v3_cn 2048 -days 825 -md sha256
leaf leaf-dns "Exchange Server" v3_dns 2048 -days 825 -md sha256
leaf leaf-ip4 "Exchange Server" v3_ip4 2048 -days 825 -md sha256
leaf leaf-ip6 "Exchange Server" v3_ip6 2048 -days 825 -md sha256
leaf leaf-wild "Exchange Server" v3_wild 2048 -days 825 -md sha256
leaf leaf-wrong "Exchange Server" v3_wrong 2048 -days 825 -md sha256
leaf leaf-expired "Exchange Server" v3_dns 2048 -startdate 20200101000000Z \
    -enddate 20210101000000Z -md sha256
leaf leaf-future "Exchange Server" v3_dns 2048 -startdate 20990101000000Z \
    -enddate 20991231000000Z -md sha256
leaf leaf-sha1 "Exchange Server" v3_dns 2048 -days 825 -md sha1
leaf leaf-rsa1024 "Exchange Server" v3_dns 1024 -days 825 -md sha256
# Signed with the old intermediate key; no authority key identifier, so the name alone leads
# to the re-issued intermediate and only the signature check can tell.
key leaf-rekeyed.key 2048
sign "Exchange Server" inter-old.pem inter-old.key v3_dns_noakid leaf-rekeyed -days 825 -md sha256

key leaf-self.key 2048
openssl req -new -x509 -config ca.cnf -key leaf-self.key -subj "/CN=exchange.test" \
    -extensions v3_dns -days 825 -sha256 -out leaf-self.pem

cp inter.pem chain-inter.pem
cat inter.pem ca.pem >chain-full.pem
rm -rf ./*.csr newcerts
