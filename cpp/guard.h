// Guards for invariants at the N-API boundary. Validation of user input happens in
// TypeScript; these only turn a broken invariant into a JS exception (never an abort).
#pragma once
#include <napi.h>
#include <string>

namespace evolver {

// A JS Error carrying a stable `code` property (and `file`, when the error is about one).
// `defect`: the message without the file's path, for layers that name the file themselves.
inline Napi::Error CodedError(Napi::Env env, const std::string& code, const std::string& message, const std::string& file = std::string(),
                              const std::string& defect = std::string()) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  if (!file.empty()) err.Set("file", Napi::String::New(env, file));
  if (!defect.empty()) err.Set("defect", Napi::String::New(env, defect));
  return err;
}

// Throws a JS Error carrying a stable `code` property.
[[noreturn]] inline void ThrowCoded(Napi::Env env, const std::string& code, const std::string& message) {
  throw CodedError(env, code, message);
}

}  // namespace evolver

#define EVOLVER_GUARD(env, cond, code, msg)           \
  do {                                                \
    if (!(cond)) ::evolver::ThrowCoded((env), (code), (msg)); \
  } while (0)
