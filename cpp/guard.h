// Guards for invariants at the N-API boundary. Validation of user input happens in
// TypeScript; these only turn a broken invariant into a JS exception (never an abort).
#pragma once
#include <napi.h>
#include <string>

namespace evolver {

// Throws a JS Error carrying a stable `code` property.
[[noreturn]] inline void ThrowCoded(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  throw err;
}

}  // namespace evolver

#define EVOLVER_GUARD(env, cond, code, msg)           \
  do {                                                \
    if (!(cond)) ::evolver::ThrowCoded((env), (code), (msg)); \
  } while (0)
