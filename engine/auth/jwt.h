// Signed JWT access tokens (RFC 7519) in the profile of RFC 9068, signed with
// Ed25519 (EdDSA, RFC 8037) through libsodium; JWK and JWKS (RFC 7517) for the
// public keys. docs/jwt.md describes the format, the rules and the messages.
//
// A token is `BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(sig)`:
//
//   header   {"alg":"EdDSA","typ":"at+jwt","kid":"<key id>"}
//   payload  {"iss":…,"sub":…,"aud":…,"exp":…,"nbf":…,"iat":…,"jti":…,
//             "client_id":…,"scope":…,"entity_id":…,"role_id":…}
//   sig      Ed25519 over the ASCII bytes `header "." payload` (as encoded)
//
// `entity_id` and `role_id` are Portcullis's private claims (RFC 7519 §4.3):
// the entity an entity user acts for and that user's role; tokens of clients
// acting for themselves carry neither.
//
// Verification is strict and fails closed: see JwtVerifier::Verify. Its
// errors never quote the token, a signature or key material; they may quote a
// header parameter or a claim of a token whose signature verified (an issuer,
// an audience), C-escaped and shortened.
//
// Thread-safety: every class here is immutable once built; any number of
// threads may call the const methods of one object concurrently.

#ifndef PORTCULLIS_ENGINE_AUTH_JWT_H_
#define PORTCULLIS_ENGINE_AUTH_JWT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "engine/common/ed25519_key.h"

namespace portcullis::auth {

// How far the verifier's clock may disagree with the issuer's: `exp`, `nbf`
// and `iat` are checked with this much slack.
inline constexpr absl::Duration kDefaultJwtLeeway = absl::Seconds(60);

// The largest token Verify reads, in bytes; a larger one is refused before
// any decoding. Portcullis's own tokens are a few hundred bytes.
inline constexpr size_t kDefaultMaxJwtSize = 8192;

// The claims of an access token. Strings are UTF-8. Times are whole seconds
// on the wire (NumericDate); Sign rounds them down.
struct JwtClaims {
  std::string issuer;     // iss, required
  std::string subject;    // sub, required
  std::string audience;   // aud, required; emitted as one string
  std::string jwt_id;     // jti, required
  std::string client_id;  // client_id (RFC 9068 §2.2), required
  std::string scope;      // scope, space-separated; omitted when empty
  std::string entity_id;  // entity_id (private); omitted when empty
  std::string role_id;    // role_id (private); omitted when empty
  absl::Time issued_at;   // iat, required
  // nbf; InfinitePast() means "no nbf claim" (and is what Verify returns for
  // a token without one).
  absl::Time not_before = absl::InfinitePast();
  absl::Time expires_at;  // exp, required

  friend bool operator==(const JwtClaims& a, const JwtClaims& b);
  friend bool operator!=(const JwtClaims& a, const JwtClaims& b) {
    return !(a == b);
  }
};

// Key files are private JWKs (RFC 8037 §2, as in its Appendix A.1) with a
// kid, one line:
//   {"kty":"OKP","crv":"Ed25519","d":"<seed>","x":"<public>","kid":"k1"}
// `x` must be the public key of `d`. Other members (use, alg) are allowed if
// they say sig and EdDSA. Errors are InvalidArgument and never quote `d`.
absl::StatusOr<Ed25519KeyPair> KeyPairFromPrivateJwk(absl::string_view jwk);
std::string PrivateJwk(const Ed25519KeyPair& key);  // Secret.

// Reads a key file (at most 4 KiB). NotFound / PermissionDenied / the
// parser's InvalidArgument, prefixed with the path.
absl::StatusOr<Ed25519KeyPair> LoadKeyPairFile(const std::string& path);
// Writes the key file, creating it with mode 0600; refuses to overwrite an
// existing file (AlreadyExists), so a rotation cannot destroy a live key.
absl::Status SaveKeyPairFile(const Ed25519KeyPair& key,
                             const std::string& path);

// Reads a public key file: one public JWK (PublicKeyFromJwk), at most 4 KiB.
absl::StatusOr<Ed25519PublicKey> LoadPublicKeyFile(const std::string& path);

// The public JWK of `key` (RFC 8037 §2), compact, members in this order:
//   {"kty":"OKP","crv":"Ed25519","x":"<base64url>","kid":"k1","use":"sig",
//    "alg":"EdDSA"}
std::string PublicKeyToJwk(const Ed25519PublicKey& key);

// Reads a public JWK: `kty` "OKP", `crv` "Ed25519", `x` (32 bytes, base64url
// without padding) and `kid` required; `use` if present "sig", `alg` if
// present "EdDSA"; a `d` member is refused (a secret in a public key's place
// is a leak waiting to happen). InvalidArgument "JWK: ..." otherwise.
absl::StatusOr<Ed25519PublicKey> PublicKeyFromJwk(absl::string_view jwk);

// The JWK Set {"keys":[<PublicKeyToJwk>,...]} (RFC 7517 §5), in the given
// order: what an issuer publishes (e.g. at /.well-known/jwks.json) so that
// any JOSE library can verify its tokens.
std::string JwksJson(const std::vector<Ed25519PublicKey>& keys);

// The JWK thumbprint (RFC 7638, SHA-256, base64url) of `key`: a kid that
// anyone can recompute from the key itself.
std::string JwkThumbprint(const Ed25519PublicKey& key);

// Issues tokens. Holds one active key pair, which signs, and the public keys
// of other keys still (or already) trusted during a rotation, which it only
// publishes. Immutable; Sign is thread-safe.
class JwtSigner {
 public:
  // InvalidArgument if two keys share a kid.
  static absl::StatusOr<JwtSigner> Create(
      Ed25519KeyPair active, std::vector<Ed25519PublicKey> other_keys = {});

  // The compact JWS of `claims`. InvalidArgument when a required claim is
  // empty, a string is not valid UTF-8, a time is before 1970 or after 2^53
  // seconds, or expires_at is not after issued_at. Cost: one Ed25519
  // signature, about 22 µs of CPU in all (BM_JwtSign, docs/jwt.md).
  absl::StatusOr<std::string> Sign(const JwtClaims& claims) const;

  const std::string& active_kid() const { return active_.kid(); }

  // The active key's public key first, then the others: what a verifier of
  // these tokens must know, and what JwksJson should publish.
  std::vector<Ed25519PublicKey> PublicKeys() const;

 private:
  JwtSigner(Ed25519KeyPair active, std::vector<Ed25519PublicKey> other_keys)
      : active_(std::move(active)), other_keys_(std::move(other_keys)) {}

  Ed25519KeyPair active_;
  std::vector<Ed25519PublicKey> other_keys_;
};

struct JwtVerifierOptions {
  std::string issuer;    // `iss` must equal it exactly
  std::string audience;  // `aud` (a string or an array) must contain it
  // The trusted keys by kid; a token naming another kid is refused. Drop a
  // retired key from this list to refuse its tokens.
  std::vector<Ed25519PublicKey> keys;
  absl::Duration leeway = kDefaultJwtLeeway;   // 0 to 1 hour
  size_t max_token_size = kDefaultMaxJwtSize;  // at least 256
};

// Verifies access tokens. Immutable; Verify is thread-safe.
class JwtVerifier {
 public:
  // InvalidArgument for an empty issuer or audience, no keys, two keys with
  // one kid, or a leeway or size limit out of range.
  static absl::StatusOr<JwtVerifier> Create(JwtVerifierOptions options);

  // The claims of `token` if every rule below holds at `now`; otherwise
  // Unauthenticated "access token: JWT: <reason>", one reason per rule
  // (docs/jwt.md lists them). In order:
  //  1. at most max_token_size bytes; exactly three '.'-separated segments,
  //     each base64url without padding in canonical form (no '=', '+', '/',
  //     whitespace, or nonzero unused trailing bits);
  //  2. the header is one strict JSON object (RFC 8259, no duplicate keys)
  //     with alg exactly "EdDSA", typ "at+jwt" or "application/at+jwt"
  //     (case-insensitively, RFC 9068 §4), a known kid, and no crit;
  //  3. the signature is 64 bytes and verifies (Ed25519) under that kid's
  //     key; nothing in the payload is read before this;
  //  4. the payload is one strict JSON object whose claims have their types:
  //     iss, sub, jti, client_id non-empty strings; aud a string or an array of
  //     strings; exp, iat (required) and nbf (optional) integers from 0 to
  //     2^53; scope, entity_id, role_id strings if present;
  //  5. iss equals the issuer; aud contains the audience;
  //  6. now < exp + leeway; now >= nbf - leeway; iat <= now + leeway.
  // The claims returned have `audience` set to the configured audience (the
  // one that matched) and `not_before` InfinitePast() when there is no nbf.
  // Cost: about 90 µs of CPU for a valid token (BM_JwtVerify): one Ed25519
  // verification (about 60 µs) and two small JSON parses; a token with an
  // unknown kid is refused after the header alone (about 12 µs).
  absl::StatusOr<JwtClaims> Verify(absl::string_view token,
                                   absl::Time now) const;

 private:
  explicit JwtVerifier(JwtVerifierOptions options);

  JwtVerifierOptions options_;
  absl::flat_hash_map<std::string, std::array<uint8_t, 32>> keys_;
};

}  // namespace portcullis::auth

#endif  // PORTCULLIS_ENGINE_AUTH_JWT_H_
