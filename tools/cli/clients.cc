// `portcullis clients add|rotate|suspend|resume|remove|list`: client
// management through a running server's admin listener (docs/server.md,
// "Admin listener"), without a restart. HTTP with Boost.Beast's client.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tools/cli/command.h"
#include "tools/cli/output.h"

namespace portcullis::cli {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

constexpr absl::string_view kHelp =
    R"(Usage: portcullis clients add|rotate|suspend|resume|remove CLIENT_ID
                         --server URL --admin-token-file FILE
       portcullis clients list --server URL --admin-token-file FILE

Manages the clients of a running `portcullis serve` through its admin
listener (the configuration's `admin` section; loopback only), without a
restart. The server saves the registry before it answers.

  add      gives a client of the policy its first secret
  rotate   replaces the secret (the old one stops working at once)
  suspend  refuses the client's authentication and tokens (kept)
  resume   lifts a suspension
  remove   destroys the secret and every token issued so far, for good
  list     the clients and their states (never a secret)

add and rotate print the new secret on stdout, once: it cannot be shown
again (rotate to get a new one).

  --server URL              http://HOST:PORT of the admin listener
  --admin-token-file FILE   the file holding the admin token

Exit codes:
  0  done
  1  the server refused (unknown client, conflict, bad admin token) or
     cannot be reached
  2  usage error, or the token file cannot be read
)";

constexpr FlagSpec kFlags[] = {
    {"server", FlagKind::kValue},
    {"admin-token-file", FlagKind::kValue},
};

// Percent-encodes all but RFC 3986's unreserved characters.
std::string PathSegment(absl::string_view text) {
  std::string out;
  for (char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out.push_back(c);
    } else {
      absl::StrAppend(&out, "%",
                      absl::AsciiStrToUpper(absl::StrCat(absl::Hex(
                          static_cast<unsigned char>(c), absl::kZeroPad2))));
    }
  }
  return out;
}

int RunClients(const ParsedArgs& args) {
  const std::vector<std::string>& positional = args.positional();
  if (positional.empty()) {
    return UsageError("clients",
                      "expected add, rotate, suspend, resume, remove or list");
  }
  const std::string& action = positional[0];
  const bool list = action == "list";
  if (!list && action != "add" && action != "rotate" && action != "suspend" &&
      action != "resume" && action != "remove") {
    return UsageError("clients",
                      absl::StrCat("unknown action \"", action, "\""));
  }
  if (positional.size() != (list ? 1u : 2u) ||
      (!list && positional[1].empty())) {
    return UsageError(
        "clients", list ? "list takes no client id" : "expected one CLIENT_ID");
  }
  if (!args.Has("server") || !args.Has("admin-token-file")) {
    return UsageError("clients",
                      "--server and --admin-token-file are required");
  }
  // http://HOST:PORT (a trailing '/' allowed).
  absl::string_view url = args.Value("server");
  if (!absl::ConsumePrefix(&url, "http://")) {
    return UsageError("clients", "--server: expected http://HOST:PORT");
  }
  absl::ConsumeSuffix(&url, "/");
  const size_t colon = url.rfind(':');
  uint32_t port = 0;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(url.substr(colon + 1), &port) || port == 0 ||
      port > 65535) {
    return UsageError("clients", "--server: expected http://HOST:PORT");
  }
  std::string host(url.substr(0, colon));
  if (absl::StartsWith(host, "[") && absl::EndsWith(host, "]")) {
    host = host.substr(1, host.size() - 2);
  }

  std::ifstream in(args.Value("admin-token-file"));
  if (!in) {
    PrintError("clients", absl::StrCat(args.Value("admin-token-file"),
                                       ": cannot read the admin token file"));
    return kExitUsage;
  }
  std::ostringstream text;
  text << in.rdbuf();
  const std::string token(absl::StripAsciiWhitespace(text.str()));
  if (token.empty()) {
    PrintError("clients", absl::StrCat(args.Value("admin-token-file"),
                                       ": the admin token file is empty"));
    return kExitUsage;
  }

  http::verb method = http::verb::post;
  std::string target = "/admin/clients";
  if (!list) absl::StrAppend(&target, "/", PathSegment(positional[1]));
  if (list) method = http::verb::get;
  if (action == "remove") method = http::verb::delete_;
  if (action == "rotate" || action == "suspend" || action == "resume") {
    absl::StrAppend(&target, "/", action);
  }

  http::response<http::string_body> response;
  try {
    net::io_context ioc;
    net::ip::tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(resolver.resolve(host, absl::StrCat(port)));
    http::request<http::string_body> request(method, target, 11);
    request.set(http::field::host, absl::StrCat(host, ":", port));
    request.set(http::field::authorization, absl::StrCat("Bearer ", token));
    request.prepare_payload();
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::read(stream, buffer, response);
    beast::error_code ec;
    stream.socket().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  } catch (const std::exception& e) {
    PrintError("clients", absl::StrCat("cannot reach ", args.Value("server"),
                                       ": ", e.what()));
    return kExitFailed;
  }
  if (response.result() != http::status::ok) {
    // The server's errors quote client ids at most.
    PrintError("clients",
               absl::StrCat("the server answered ", response.result_int(), ": ",
                            response.body()));
    return kExitFailed;
  }
  PrintOut(response.body());
  PrintOut("\n");
  if (action == "add" || action == "rotate") {
    PrintErr(
        "clients: the client_secret above is shown once and cannot be shown "
        "again.\n");
  }
  return kExitOk;
}

}  // namespace

const Command kClientsCommand = {
    "clients",   "Manage a running server's clients without a restart.",
    kHelp,       kFlags,
    &RunClients,
};

}  // namespace portcullis::cli
