#include "util/thread_pool.h"

#include <algorithm>

namespace qsim {
namespace {

std::pair<int64_t, int64_t> chunk_range(int64_t n, int chunks, int index) {
  return {n * index / chunks, n * (index + 1) / chunks};
}

}  // namespace

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
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
  std::unique_lock<std::mutex> lock(mutex_);
  // A nested call (from inside a chunk) or a pool of one runs inline.
  if (chunks <= 1 || busy_) {
    lock.unlock();
    fn(0, n);
    return;
  }
  busy_ = true;
  job_ = &fn;
  job_size_ = n;
  job_chunks_ = chunks;
  pending_ = chunks - 1;
  error_ = nullptr;
  ++generation_;
  lock.unlock();
  wake_.notify_all();

  std::exception_ptr own_error;
  try {
    auto [begin, end] = chunk_range(n, chunks, 0);
    fn(begin, end);
  } catch (...) {
    own_error = std::current_exception();
  }
  lock.lock();
  done_.wait(lock, [this] { return pending_ == 0; });
  busy_ = false;
  job_ = nullptr;
  std::exception_ptr error = own_error ? own_error : error_;
  lock.unlock();
  if (error) std::rethrow_exception(error);
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
    if (stopping_) return;
    seen = generation_;
    if (index >= job_chunks_) continue;
    const auto* fn = job_;
    auto [begin, end] = chunk_range(job_size_, job_chunks_, index);
    lock.unlock();
    std::exception_ptr error;
    try {
      (*fn)(begin, end);
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    if (error && !error_) error_ = error;
    if (--pending_ == 0) done_.notify_one();
  }
}

}  // namespace qsim
