// A fixed pool of worker threads shared by all kernel calls. A call splits its work into
// chunks; up to `threads` participants (the calling thread included) claim chunks until none
// are left. Which thread runs a chunk never changes its result, so outputs do not depend on
// the thread count or the chunk size.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace evolver {

class ThreadPool {
 public:
  static ThreadPool& Global();

  /** Online cores (at least 1). */
  static int HardwareThreads();

  /** Default participants per call; grows the pool when needed. */
  void SetDefaultThreads(int n);
  int default_threads() const { return default_threads_; }

  /** Runs fn(chunk, participant) for every chunk in [0, chunks); participant < threads. Blocks. */
  void ParallelFor(uint64_t chunks, int threads, const std::function<void(uint64_t chunk, int participant)>& fn);

  ~ThreadPool();

 private:
  struct Job {
    const std::function<void(uint64_t, int)>* fn;
    uint64_t chunks;
    uint64_t next = 0;       // next chunk to claim (under mutex_)
    uint64_t finished = 0;   // chunks done (under mutex_)
    int max_participants;
    int participants = 1;    // the caller
    std::condition_variable done;
  };

  ThreadPool();
  void EnsureWorkers(int n);
  void WorkerLoop();
  // Claims and runs chunks of `job` as `participant` until none are left.
  void Drain(Job* job, int participant, std::unique_lock<std::mutex>* lock);

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job*> jobs_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
  int default_threads_;
};

}  // namespace evolver
