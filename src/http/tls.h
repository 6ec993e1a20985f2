// TLS for a server's listener (OpenSSL through Asio): a certificate chain and key from PEM files,
// optionally client certificates checked against a CA bundle. reload() re-reads the files (on
// SIGHUP) while connections keep their handshake's context.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"

namespace boost::asio::ssl {
class context;
}

namespace thaw::http {

enum class ClientCertMode { kNone, kOptional, kRequire };

struct TlsOptions {
  std::string cert_file;       // PEM certificate chain, leaf first
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // PEM CAs that client certificates must chain to ("" with kNone)
  ClientCertMode client_cert = ClientCertMode::kNone;
};

// "none", "optional", "require".
Result<ClientCertMode> parse_client_cert_mode(std::string_view text);

class TlsContext {
 public:
  // Loads the files; an error names the file and OpenSSL's reason.
  static Result<std::shared_ptr<TlsContext>> load(TlsOptions options);
  // Re-reads the files; on error the previous certificate stays in use and the error is returned.
  Status reload();
  // The context new connections handshake with; thread-safe.
  std::shared_ptr<boost::asio::ssl::context> current() const;
  const TlsOptions& options() const { return options_; }

 private:
  explicit TlsContext(TlsOptions options) : options_(std::move(options)) {}
  TlsOptions options_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> current_;  // guarded by mu_
};

}  // namespace thaw::http
