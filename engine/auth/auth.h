// The authentication façade: everything a service needs to issue tokens and
// turn a bearer token into a principal bound to the live policy snapshot. See
// token_service.h for the walk-through and docs/auth.md for the guide.
#ifndef PORTCULLIS_ENGINE_AUTH_AUTH_H_
#define PORTCULLIS_ENGINE_AUTH_AUTH_H_

#include "engine/auth/client_registry.h"  // IWYU pragma: export
#include "engine/auth/clock.h"            // IWYU pragma: export
#include "engine/auth/crypto.h"           // IWYU pragma: export
#include "engine/auth/token_service.h"    // IWYU pragma: export
#include "engine/auth/token_store.h"      // IWYU pragma: export
#include "engine/auth/user_directory.h"   // IWYU pragma: export

#endif  // PORTCULLIS_ENGINE_AUTH_AUTH_H_
