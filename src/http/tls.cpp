#include "http/tls.h"

#include <openssl/ssl.h>

#include <boost/asio/ssl.hpp>

namespace thaw::http {
namespace ssl = boost::asio::ssl;

namespace {

Result<std::shared_ptr<ssl::context>> build(const TlsOptions& o) {
  if (o.cert_file.empty() || o.key_file.empty())
    return make_error(Code::kInvalidArgument, "TLS needs both a certificate file and a key file");
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  boost::system::error_code ec;
  // TLS 1.2 and 1.3 only.
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                   ec);
  ctx->use_certificate_chain_file(o.cert_file, ec);
  if (ec) return make_error(Code::kInvalidArgument, "TLS certificate {}: {}", o.cert_file, ec.message());
  ctx->use_private_key_file(o.key_file, ssl::context::pem, ec);
  if (ec) return make_error(Code::kInvalidArgument, "TLS key {}: {}", o.key_file, ec.message());
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    return make_error(Code::kInvalidArgument, "TLS key {} does not match the certificate {}", o.key_file, o.cert_file);
  static constexpr unsigned char kSessionContext[] = "thaw";
  SSL_CTX_set_session_id_context(ctx->native_handle(), kSessionContext, sizeof(kSessionContext) - 1);
  if (o.client_cert != ClientCertMode::kNone) {
    if (o.client_ca_file.empty())
      return make_error(Code::kInvalidArgument, "checking client certificates needs a CA file (tls_client_ca_file)");
    ctx->load_verify_file(o.client_ca_file, ec);
    if (ec) return make_error(Code::kInvalidArgument, "TLS client CA file {}: {}", o.client_ca_file, ec.message());
    // Tell clients which CAs are accepted, so they pick the right certificate.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str()))
      SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    ssl::verify_mode mode = ssl::verify_peer;
    if (o.client_cert == ClientCertMode::kRequire) mode |= ssl::verify_fail_if_no_peer_cert;
    ctx->set_verify_mode(mode, ec);
  }
  return ctx;
}

}  // namespace

Result<ClientCertMode> parse_client_cert_mode(std::string_view text) {
  if (text == "none" || text.empty()) return ClientCertMode::kNone;
  if (text == "optional") return ClientCertMode::kOptional;
  if (text == "require") return ClientCertMode::kRequire;
  return make_error(Code::kInvalidArgument, "client certificates: '{}' is not none, optional or require", text);
}

Result<std::shared_ptr<TlsContext>> TlsContext::load(TlsOptions options) {
  auto ctx = build(options);
  if (!ctx.is_ok()) return ctx.status();
  auto tls = std::shared_ptr<TlsContext>(new TlsContext(std::move(options)));
  tls->current_ = std::move(ctx).value();
  return tls;
}

Status TlsContext::reload() {
  auto ctx = build(options_);
  if (!ctx.is_ok()) return ctx.status();
  std::lock_guard lock(mu_);
  current_ = std::move(ctx).value();
  return Status::ok();
}

std::shared_ptr<ssl::context> TlsContext::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

}  // namespace thaw::http
