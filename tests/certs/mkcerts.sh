#!/bin/sh
# mkcerts.sh DIR - generate a throwaway PKI for the test suite into DIR.
#
# Produces (all PEM, EC P-256 keys, unencrypted):
#   ca.pem ca.key            test CA ("check_imap_session test CA")
#   server.pem server.key    CN=localhost, SAN DNS:localhost IP:127.0.0.1 IP:::1, 1 year
#   expired.pem expired.key  same names, valid 2020-01-01 .. 2021-01-01 (expired)
#   wrongname.pem/.key       CN=other.example, SAN DNS:other.example
#   soon.pem soon.key        same names as server, expires in 5 days
#   client.pem client.key    CN=probe-client, extendedKeyUsage clientAuth
#   other-ca.pem other-ca.key  an unrelated CA that signed none of the above
#   server-chain.pem         server.pem followed by ca.pem
# Needs only the openssl command line tool (1.1.1 or 3.x).  Idempotent:
# rerunning regenerates everything.  Exit status non-zero on failure.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"
cd "$dir"
OPENSSL=${OPENSSL:-openssl}

# One self-contained config: never depends on the system openssl.cnf.
cat > pki.cnf <<'CNF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ v3_server ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
[ v3_wrong ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:other.example
[ v3_client ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
# "openssl ca" is the only way in OpenSSL 3.0 to pick arbitrary dates.
[ ca ]
default_ca = testca
[ testca ]
database = ca.db
new_certs_dir = .
serial = ca.serial
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[ anything ]
commonName = supplied
CNF

key() {
	"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null
	chmod 600 "$1"
}

selfsigned_ca() { # name CN
	key "$1.key"
	"$OPENSSL" req -config pki.cnf -new -x509 -key "$1.key" -subj "/CN=$2" \
		-days 3650 -sha256 -extensions v3_ca -out "$1.pem"
}

csr() { # name CN
	key "$1.key"
	"$OPENSSL" req -config pki.cnf -new -key "$1.key" -subj "/CN=$2" -out "$1.csr"
}

sign() { # name days extensions
	"$OPENSSL" x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAserial ca.srl \
		-CAcreateserial -days "$2" -sha256 -extfile pki.cnf -extensions "$3" \
		-out "$1.pem" 2>/dev/null
}

selfsigned_ca ca "check_imap_session test CA"
selfsigned_ca other-ca "unrelated test CA"

csr server localhost
sign server 365 v3_server

csr soon localhost
sign soon 5 v3_server

csr wrongname other.example
sign wrongname 365 v3_wrong

csr client probe-client
sign client 365 v3_client

csr expired localhost
: > ca.db
echo 1000 > ca.serial
"$OPENSSL" ca -config pki.cnf -batch -notext -cert ca.pem -keyfile ca.key \
	-startdate 20200101000000Z -enddate 20210101000000Z -extensions v3_server \
	-extfile pki.cnf -in expired.csr -out expired.pem 2>/dev/null

cat server.pem ca.pem > server-chain.pem
rm -f ./*.csr ca.db* ca.serial* ca.srl 1000.pem pki.cnf
