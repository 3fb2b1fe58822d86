#include "sigbus.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <mutex>

#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace evolver {
namespace sigbus {
namespace {

struct Slot {
  std::atomic<uintptr_t> start{0};
  std::atomic<uintptr_t> end{0};  // 0: free
  std::atomic<uint32_t> faulted{0};
};

Slot g_slots[kSlots];
std::atomic<int> g_high_water{0};       // slots [0, high water) may be in use
std::atomic<int> g_in_handler{0};       // handlers between their lookup and their last slot access
std::atomic<uint64_t> g_repaired{0};
std::atomic<int> g_in_use{0};
std::mutex g_alloc_mutex;               // Register / Unregister only (never the handler)
struct sigaction g_previous;
std::atomic<bool> g_installed{false};
uintptr_t g_page = 4096;

// The previous disposition gets every SIGBUS that is not ours. For the default (or ignore,
// which the kernel does not honour for a fault) restore it: a fault then re-executes and kills
// the process as it would have without us; a SIGBUS sent by kill() is raised again.
void Chain(int sig, siginfo_t* info, void* ucontext) {
  if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(sig, info, ucontext);
    return;
  }
  if ((g_previous.sa_flags & SA_SIGINFO) == 0 && g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN) {
    g_previous.sa_handler(sig);
    return;
  }
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(SIGBUS, &dfl, nullptr);
  if (info == nullptr || info->si_code <= 0) ::raise(sig);  // sent, not a fault: deliver it again
}

void Handler(int sig, siginfo_t* info, void* ucontext) {
  const int saved_errno = errno;
  bool repaired = false;
  if (info != nullptr && info->si_code > 0) {  // a fault, not a signal someone sent
    const uintptr_t addr = reinterpret_cast<uintptr_t>(info->si_addr);
    g_in_handler.fetch_add(1, std::memory_order_seq_cst);
    const int n = g_high_water.load(std::memory_order_seq_cst);
    for (int i = 0; i < n; ++i) {
      Slot& s = g_slots[i];
      const uintptr_t end = s.end.load(std::memory_order_seq_cst);
      if (end == 0 || addr >= end) continue;
      const uintptr_t start = s.start.load(std::memory_order_seq_cst);
      if (addr < start) continue;
      // Zero pages from the faulting page to the end of the mapping: one signal per broken
      // region instead of one per page (everything past a truncation point is past it).
      const uintptr_t page = addr & ~(g_page - 1);
      // A raw system call: no interposed wrapper (sanitizers) runs inside the handler.
      const long r = ::syscall(SYS_mmap, page, end - page, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (r != -1 && static_cast<uintptr_t>(r) == page) {
        s.faulted.store(1, std::memory_order_seq_cst);
        g_repaired.fetch_add(1, std::memory_order_relaxed);
        repaired = true;
      }
      break;
    }
    g_in_handler.fetch_sub(1, std::memory_order_seq_cst);
  }
  errno = saved_errno;
  if (!repaired) Chain(sig, info, ucontext);
}

}  // namespace

void Install() {
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  if (g_installed.load()) return;
  const long page = ::sysconf(_SC_PAGESIZE);
  if (page > 0) g_page = static_cast<uintptr_t>(page);
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = Handler;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  if (::sigaction(SIGBUS, &sa, &g_previous) == 0) g_installed.store(true);
}

int Register(void* base, uint64_t size) {
  if (base == nullptr || size == 0) return -1;
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  const int n = g_high_water.load();
  int slot = -1;
  for (int i = 0; i < n; ++i) {
    if (g_slots[i].end.load() == 0) {
      slot = i;
      break;
    }
  }
  if (slot < 0) {
    if (n >= kSlots) return -1;
    slot = n;
  }
  Slot& s = g_slots[slot];
  s.faulted.store(0);
  s.start.store(reinterpret_cast<uintptr_t>(base));
  s.end.store(reinterpret_cast<uintptr_t>(base) + size);  // published last: the handler reads end first
  if (slot == n) g_high_water.store(n + 1);
  g_in_use.fetch_add(1);
  return slot;
}

bool Unregister(int slot) {
  if (slot < 0 || slot >= kSlots) return false;
  std::lock_guard<std::mutex> lock(g_alloc_mutex);
  Slot& s = g_slots[slot];
  s.end.store(0);
  // A handler that read the old range may still be mapping over it: wait until none is
  // between its lookup and its last access, so the range is never remapped after munmap.
  while (g_in_handler.load() != 0) ::sched_yield();
  const bool faulted = s.faulted.load() != 0;
  s.start.store(0);
  s.faulted.store(0);
  g_in_use.fetch_sub(1);
  return faulted;
}

bool Faulted(int slot) { return slot >= 0 && slot < kSlots && g_slots[slot].faulted.load() != 0; }

uint64_t Repaired() { return g_repaired.load(); }
int InUse() { return g_in_use.load(); }

}  // namespace sigbus
}  // namespace evolver
