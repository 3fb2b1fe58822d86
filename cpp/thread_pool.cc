#include "thread_pool.h"

#include <algorithm>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif
#include <unistd.h>

namespace evolver {

ThreadPool& ThreadPool::Global() {
  // Never destroyed: workers may still be parked when the process exits.
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

int ThreadPool::HardwareThreads() {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

ThreadPool::ThreadPool() : default_threads_(HardwareThreads()) {}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::SetDefaultThreads(int n) { default_threads_ = std::max(1, n); }

void ThreadPool::EnsureWorkers(int n) {
  // Called with mutex_ held.
  while (static_cast<int>(workers_.size()) < n) workers_.emplace_back([this] { WorkerLoop(); });
}

void ThreadPool::Drain(Job* job, int participant, std::unique_lock<std::mutex>* lock) {
  while (job->next < job->chunks) {
    const uint64_t chunk = job->next++;
    lock->unlock();
    (*job->fn)(chunk, participant);
    lock->lock();
    if (++job->finished == job->chunks) job->done.notify_all();
  }
}

void ThreadPool::ParallelFor(uint64_t chunks, int threads, const std::function<void(uint64_t, int)>& fn) {
  if (chunks == 0) return;
  threads = std::max(1, threads);
  if (threads == 1 || chunks == 1) {
    for (uint64_t c = 0; c < chunks; ++c) fn(c, 0);
    return;
  }
  Job job{&fn, chunks, 0, 0, threads, 1, {}};
  std::unique_lock<std::mutex> lock(mutex_);
  EnsureWorkers(threads - 1);
  jobs_.push_back(&job);
  wake_.notify_all();
  Drain(&job, 0, &lock);
  // Nothing left to claim: take the job off the queue, then wait for chunks still running.
  jobs_.erase(std::remove(jobs_.begin(), jobs_.end(), &job), jobs_.end());
  job.done.wait(lock, [&] { return job.finished == job.chunks; });
}

void ThreadPool::WorkerLoop() {
#if defined(__x86_64__)
  // Subnormals are kept everywhere (docs/design.md): make sure FTZ/DAZ are off in this thread.
  _mm_setcsr(_mm_getcsr() & ~(0x8000u | 0x0040u));
#endif
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    Job* job = nullptr;
    wake_.wait(lock, [&] {
      if (stopping_) return true;
      for (Job* j : jobs_)
        if (j->next < j->chunks && j->participants < j->max_participants) return true;
      return false;
    });
    if (stopping_) return;
    for (Job* j : jobs_)
      if (j->next < j->chunks && j->participants < j->max_participants) {
        job = j;
        break;
      }
    const int participant = job->participants++;
    Drain(job, participant, &lock);
  }
}

}  // namespace evolver
