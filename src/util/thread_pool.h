// A fixed-size pool owned by one session (no process-wide threads or settings).
// parallel_for splits [0, n) into contiguous static chunks, one per thread, so each index
// is always processed by the same arithmetic regardless of scheduling.
//
// Between jobs the threads spin for a short while before they sleep: a forward pass submits
// one job per node, tens to hundreds of microseconds apart, and waking a sleeping thread costs
// about as much on a virtual machine (measured: two threads were no faster than one at batch 64
// while every job woke its worker from sleep).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace qsim {

class ThreadPool {
 public:
  // num_threads <= 0 picks the hardware concurrency.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return num_threads_; }
  // Calls fn(begin, end) on disjoint chunks covering [0, n); chunks hold at least
  // `min_chunk` indices. Blocks until all are done; rethrows the first exception.
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                    int64_t min_chunk = 1);
  // Calls fn(t) once for every task t in [0, n), each thread taking the next unclaimed task
  // until none are left, on at most n / min_tasks threads. Which thread runs a task varies
  // from run to run, so fn(t) must depend on t alone; a late or preempted thread then costs
  // its share of the tasks instead of the whole job's wall time.
  void parallel_tasks(int64_t n, const std::function<void(int64_t)>& fn, int64_t min_tasks = 1);

 private:
  void worker_loop(int index);
  // Waits (spinning, then sleeping) until a job newer than `seen` is published or the pool
  // stops; returns with `lock` held.
  void wait_for_job(std::unique_lock<std::mutex>& lock, uint64_t seen);
  // Waits (spinning, then sleeping) until every worker chunk of the current job is done;
  // returns with `lock` held.
  void wait_for_workers(std::unique_lock<std::mutex>& lock);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  // The job's fields and error_ change under mutex_; generation_ and pending_ are also read
  // without it while spinning.
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_size_ = 0;
  int job_chunks_ = 0;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  int sleeping_workers_ = 0;
  std::exception_ptr error_;
  std::atomic<bool> stopping_{false};
  bool busy_ = false;
};

}  // namespace qsim
