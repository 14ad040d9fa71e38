#include <atomic>
#include <catch2/catch.hpp>
#include <stdexcept>

#include "util/thread_pool.h"

using namespace qsim;

TEST_CASE("parallel_for covers every index exactly once") {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(1000);
    pool.parallel_for(1000, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
    });
    for (auto& h : hits) CHECK(h.load() == 1);
  }
}

TEST_CASE("parallel_for rethrows a chunk's exception and the pool stays usable") {
  ThreadPool pool(2);
  CHECK_THROWS_AS(pool.parallel_for(100,
                                    [](int64_t b, int64_t) {
                                      if (b > 0) throw std::runtime_error("chunk failed");
                                    }),
                  std::runtime_error);
  std::atomic<int64_t> sum{0};
  pool.parallel_for(10, [&](int64_t b, int64_t e) { sum += e - b; });
  CHECK(sum == 10);
}

TEST_CASE("nested parallel_for runs inline") {
  ThreadPool pool(2);
  std::atomic<int> count{0};
  pool.parallel_for(4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      pool.parallel_for(3, [&](int64_t b2, int64_t e2) { count += static_cast<int>(e2 - b2); });
  });
  CHECK(count == 12);
}

TEST_CASE("parallel_tasks runs every task exactly once, on every thread count") {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 7, 1000}) {
      for (int64_t min_tasks : {1, 4}) {
        std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
        pool.parallel_tasks(
            n, [&](int64_t t) { hits[static_cast<size_t>(t)]++; }, min_tasks);
        for (auto& h : hits) CHECK(h.load() == 1);
      }
    }
  }
}

TEST_CASE("parallel_tasks rethrows a task's exception and the pool stays usable") {
  ThreadPool pool(2);
  CHECK_THROWS_AS(pool.parallel_tasks(50,
                                      [](int64_t t) {
                                        if (t == 37) throw std::runtime_error("task failed");
                                      }),
                  std::runtime_error);
  std::atomic<int64_t> sum{0};
  pool.parallel_tasks(10, [&](int64_t t) { sum += t; });
  CHECK(sum == 45);
}
