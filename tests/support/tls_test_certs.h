#pragma once
// Throw-away certificates for the TLS tests, made at run time with the `openssl` command
// (no private key is ever committed): ECDSA P-256 CAs and leaves in a temporary directory,
// made once per test binary and removed when it exits. tests/integration/tls_certs.py makes
// the same set for the Python tests.
#include <stdlib.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace reactor::test {

struct TlsTestCerts {
  std::string dir;
  std::string ca, ca_key;  ///< the CA the tests trust
  std::string cert, key;   ///< DNS:localhost and IP:127.0.0.1, signed by `ca`
  std::string other_ca;    ///< a CA nobody trusts ...
  std::string other_cert;  ///< ... and a leaf it signed, for the same names as `cert`
  std::string other_key;
  std::string wrong_name_cert;  ///< DNS:other.example only, signed by `ca`
  std::string wrong_name_key;
  std::string mismatched_key;  ///< belongs to no certificate
};

namespace detail {

class TlsTestCertsDir {
 public:
  TlsTestCertsDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "reactor-tls-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern);
    TlsTestCerts& c = certs_;
    c.dir = pattern;
    std::ofstream(path("openssl.cnf")) << "[req]\ndistinguished_name = dn\n[dn]\n";
    c.ca = path("ca.pem"), c.ca_key = path("ca.key");
    c.cert = path("cert.pem"), c.key = path("key.pem");
    c.other_ca = path("other_ca.pem");
    c.other_cert = path("other_cert.pem"), c.other_key = path("other_key.pem");
    c.wrong_name_cert = path("wrong_name_cert.pem"), c.wrong_name_key = path("wrong_name_key.pem");
    c.mismatched_key = path("mismatched_key.pem");
    std::string leaf_names = "DNS:localhost,IP:127.0.0.1";
    make_ca(c.ca, c.ca_key, "reactor test CA");
    make_ca(c.other_ca, path("other_ca.key"), "reactor unknown CA");
    make_leaf(c.cert, c.key, leaf_names, c.ca, c.ca_key);
    make_leaf(c.other_cert, c.other_key, leaf_names, c.other_ca, path("other_ca.key"));
    make_leaf(c.wrong_name_cert, c.wrong_name_key, "DNS:other.example", c.ca, c.ca_key);
    run("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " +
        quote(c.mismatched_key));
  }
  ~TlsTestCertsDir() {
    std::error_code ignored;
    std::filesystem::remove_all(certs_.dir, ignored);
  }
  TlsTestCertsDir(const TlsTestCertsDir&) = delete;
  TlsTestCertsDir& operator=(const TlsTestCertsDir&) = delete;

  const TlsTestCerts& certs() const { return certs_; }

 private:
  std::string path(const char* name) const { return certs_.dir + "/" + name; }
  static std::string quote(const std::string& s) { return "'" + s + "'"; }

  std::string req(const std::string& cert, const std::string& key, const std::string& subject) {
    return "openssl req -x509 -config " + quote(path("openssl.cnf")) +
           " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -keyout " + quote(key) +
           " -out " + quote(cert) + " -subj " + quote("/CN=" + subject) +
           " -addext subjectKeyIdentifier=hash";
  }
  void make_ca(const std::string& cert, const std::string& key, const std::string& name) {
    run(req(cert, key, name) +
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign");
  }
  void make_leaf(const std::string& cert, const std::string& key, const std::string& names,
                 const std::string& ca, const std::string& ca_key) {
    std::string first = names.substr(names.find(':') + 1, names.find(',') - names.find(':') - 1);
    run(req(cert, key, first) + " -CA " + quote(ca) + " -CAkey " + quote(ca_key) +
        " -addext basicConstraints=critical,CA:FALSE -addext subjectAltName=" + names +
        " -addext authorityKeyIdentifier=keyid:always -addext extendedKeyUsage=serverAuth");
  }
  void run(const std::string& command) {
    std::string log = path("openssl.log");
    if (std::system((command + " >" + quote(log) + " 2>&1").c_str()) != 0) {
      std::stringstream output;
      output << std::ifstream(log).rdbuf();
      throw std::runtime_error("making test certificates failed: " + command + "\n" + output.str());
    }
  }

  TlsTestCerts certs_;
};

}  // namespace detail

/// The certificates, made on first use.
inline const TlsTestCerts& tls_test_certs() {
  static const detail::TlsTestCertsDir dir;
  return dir.certs();
}

}  // namespace reactor::test
