// SIGBUS never kills the process for a fault inside one of our mappings.
//
// A file mapping raises SIGBUS when a page cannot be backed: the file was truncated under a
// read mapping (another process shrank a population file), or the disk filled up under a
// shared write mapping (after the free-space check). The handler, installed once per process
// when the addon loads, looks the faulting address up in a fixed-size, lock-free registry of
// our mappings; when it is ours it maps anonymous zero pages over [faulting page, end of the
// mapping) with MAP_FIXED, so the access (from any thread, any code: kernels, V8, OpenSSL,
// ONNX Runtime) continues, and sets the mapping's `faulted` flag. Every other SIGBUS goes to
// the handler installed before ours, or gets the default action (the process dies as before).
// Native entry points check the flag of the mappings they used and fail with a typed error.
#pragma once
#include <cstdint>

namespace evolver {
namespace sigbus {

// Installs the process-wide handler once (later calls do nothing). Async-signal-safe lookups only.
void Install();

// Registers [base, base + size) and returns its slot, or -1 when all slots are taken.
int Register(void* base, uint64_t size);
// Removes the slot (waits for handlers still running to finish) and returns whether it faulted.
// Call before unmapping the range.
bool Unregister(int slot);
bool Faulted(int slot);

// Faults repaired since the process started (for tests).
uint64_t Repaired();
// Slots in use (for tests).
int InUse();
constexpr int kSlots = 1 << 16;

}  // namespace sigbus
}  // namespace evolver
