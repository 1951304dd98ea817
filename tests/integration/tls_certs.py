"""Throw-away certificates for the TLS integration tests, made at run time with the
`openssl` command (no private key is ever committed). The same set as the unit tests'
tests/support/tls_test_certs.h: ECDSA P-256 keys, certificates valid for two days.

make_certs(directory) writes the files into `directory` and returns their paths:
  ca, ca_key            the CA the tests trust ("reactor test CA")
  cert, key             a leaf for DNS:localhost and IP:127.0.0.1, signed by ca
  other_ca              a CA nobody trusts ("reactor unknown CA") ...
  other_cert, other_key ... and a leaf it signed, for the same names as cert
  wrong_name_cert, wrong_name_key
                        a leaf for DNS:other.example only, signed by ca
  mismatched_key        a key that belongs to no certificate
"""

import os
import subprocess

_CURVE = ["-pkeyopt", "ec_paramgen_curve:P-256"]


def _run(args):
    done = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    if done.returncode != 0:
        raise RuntimeError("making test certificates failed: %s\n%s"
                           % (" ".join(args), done.stdout.decode(errors="replace")))


def _req(config, cert, key, subject, extensions, issuer=None):
    args = ["openssl", "req", "-x509", "-config", config, "-newkey", "ec", *_CURVE, "-nodes",
            "-days", "2", "-keyout", key, "-out", cert, "-subj", "/CN=" + subject,
            "-addext", "subjectKeyIdentifier=hash"]
    if issuer:
        args += ["-CA", issuer[0], "-CAkey", issuer[1],
                 "-addext", "authorityKeyIdentifier=keyid:always"]
    for extension in extensions:
        args += ["-addext", extension]
    _run(args)


def _ca(config, cert, key, name):
    _req(config, cert, key, name,
         ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign"])


def _leaf(config, cert, key, names, issuer):
    first = names.split(",")[0].split(":", 1)[1]
    _req(config, cert, key, first,
         ["basicConstraints=critical,CA:FALSE", "subjectAltName=" + names,
          "extendedKeyUsage=serverAuth"], issuer)


def make_certs(directory):
    """Writes the certificates and keys into `directory`; returns {name: path}."""
    p = {name: os.path.join(directory, name + ".pem") for name in (
        "ca", "ca_key", "cert", "key", "other_ca", "other_ca_key", "other_cert", "other_key",
        "wrong_name_cert", "wrong_name_key", "mismatched_key")}
    config = os.path.join(directory, "openssl.cnf")
    with open(config, "w") as f:
        f.write("[req]\ndistinguished_name = dn\n[dn]\n")
    names = "DNS:localhost,IP:127.0.0.1"
    _ca(config, p["ca"], p["ca_key"], "reactor test CA")
    _ca(config, p["other_ca"], p["other_ca_key"], "reactor unknown CA")
    _leaf(config, p["cert"], p["key"], names, (p["ca"], p["ca_key"]))
    _leaf(config, p["other_cert"], p["other_key"], names, (p["other_ca"], p["other_ca_key"]))
    _leaf(config, p["wrong_name_cert"], p["wrong_name_key"], "DNS:other.example",
          (p["ca"], p["ca_key"]))
    _run(["openssl", "genpkey", "-algorithm", "EC", *_CURVE, "-out", p["mismatched_key"]])
    del p["other_ca_key"]
    return p
