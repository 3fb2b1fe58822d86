// File-system primitives the store needs and Node's fs lacks.
//   exchangePaths(a, b): renameat2(RENAME_EXCHANGE), an atomic swap of two existing paths.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "guard.h"
#include "mapping.h"
#include "napi_exports.h"

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

namespace evolver {
namespace {

// Through syscall() so it works with any glibc (the wrapper appeared in 2.28) and musl.
int RenameExchange(const char* a, const char* b) {
#if defined(__linux__) && defined(SYS_renameat2)
  return static_cast<int>(::syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE));
#else
  (void)a;
  (void)b;
  errno = ENOSYS;
  return -1;
#endif
}

Napi::Value ExchangePaths(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  EVOLVER_GUARD(env, info.Length() >= 2 && info[0].IsString() && info[1].IsString(), "EINVAL",
                "exchangePaths(a, b): both paths must be strings");
  const std::string a = info[0].As<Napi::String>();
  const std::string b = info[1].As<Napi::String>();
  EVOLVER_GUARD(env, a.find('\0') == std::string::npos && b.find('\0') == std::string::npos, "EINVAL",
                "exchangePaths(a, b): a path contains a NUL byte");
  if (RenameExchange(a.c_str(), b.c_str()) != 0) {
    const int e = errno;
    std::string why = std::strerror(e);
    if (e == EINVAL || e == ENOSYS || e == EOPNOTSUPP) why += " (the file system or kernel does not support RENAME_EXCHANGE)";
    ThrowCoded(env, ErrnoName(e), "cannot exchange " + a + " and " + b + ": " + why);
  }
  return env.Undefined();
}

}  // namespace

void InitFs(Napi::Env env, Napi::Object exports) {
  exports.Set("exchangePaths", Napi::Function::New(env, ExchangePaths, "exchangePaths"));
}

}  // namespace evolver
