#include "util/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace qsim {
namespace {

// How long a thread spins for the next job, or for the workers of its own, before sleeping.
constexpr auto kSpinTime = std::chrono::microseconds(200);

std::pair<int64_t, int64_t> chunk_range(int64_t n, int chunks, int index) {
  return {n * index / chunks, n * (index + 1) / chunks};
}

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

// Spins until ready() or kSpinTime has passed; returns ready().
template <typename Ready>
bool spin_until(const Ready& ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (int i = 1;; ++i) {
    if (ready()) return true;
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline) return ready();
  }
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0)
    num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  num_threads_ = num_threads;
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& w : workers_) w.join();
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                              int64_t min_chunk) {
  if (n <= 0) return;
  int64_t by_size = std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk));
  int chunks = static_cast<int>(std::min<int64_t>(num_threads_, by_size));
  // A pool of one, or a job too small to split, runs inline without taking the lock (so one
  // pool of one thread may serve several threads at once).
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  std::unique_lock<std::mutex> lock(mutex_);
  // A nested call (from inside a chunk) runs inline.
  if (busy_) {
    lock.unlock();
    fn(0, n);
    return;
  }
  busy_ = true;
  job_ = &fn;
  job_size_ = n;
  job_chunks_ = chunks;
  pending_.store(chunks - 1);
  error_ = nullptr;
  generation_.fetch_add(1);
  const bool wake = sleeping_workers_ > 0;
  lock.unlock();
  if (wake) wake_.notify_all();

  std::exception_ptr own_error;
  try {
    auto [begin, end] = chunk_range(n, chunks, 0);
    fn(begin, end);
  } catch (...) {
    own_error = std::current_exception();
  }
  wait_for_workers(lock);
  busy_ = false;
  job_ = nullptr;
  std::exception_ptr error = own_error ? own_error : error_;
  lock.unlock();
  if (error) std::rethrow_exception(error);
}

void ThreadPool::parallel_tasks(int64_t n, const std::function<void(int64_t)>& fn,
                                int64_t min_tasks) {
  std::atomic<int64_t> next{0};
  const int64_t threads =
      std::min<int64_t>(num_threads_, std::max<int64_t>(1, n / std::max<int64_t>(1, min_tasks)));
  parallel_for(threads, [&](int64_t, int64_t) {
    for (int64_t t = next.fetch_add(1); t < n; t = next.fetch_add(1)) fn(t);
  });
}

void ThreadPool::wait_for_workers(std::unique_lock<std::mutex>& lock) {
  spin_until([this] { return pending_.load() == 0; });
  lock.lock();
  done_.wait(lock, [this] { return pending_.load() == 0; });
}

void ThreadPool::wait_for_job(std::unique_lock<std::mutex>& lock, uint64_t seen) {
  auto ready = [&] { return stopping_.load() || generation_.load() != seen; };
  spin_until(ready);
  lock.lock();
  if (ready()) return;
  ++sleeping_workers_;
  wake_.wait(lock, ready);
  --sleeping_workers_;
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex_, std::defer_lock);
  for (;;) {
    wait_for_job(lock, seen);
    if (stopping_) return;
    seen = generation_.load();
    // Not a part of this job: its fields may be replaced as soon as its chunks are done.
    if (index >= job_chunks_) {
      lock.unlock();
      continue;
    }
    const auto* fn = job_;
    auto [begin, end] = chunk_range(job_size_, job_chunks_, index);
    lock.unlock();
    std::exception_ptr error;
    try {
      (*fn)(begin, end);
    } catch (...) {
      error = std::current_exception();
    }
    if (error) {
      std::lock_guard<std::mutex> guard(mutex_);
      if (!error_) error_ = error;
    }
    if (pending_.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> guard(mutex_);  // the waiter checks pending_ under it
      done_.notify_one();
    }
  }
}

}  // namespace qsim
