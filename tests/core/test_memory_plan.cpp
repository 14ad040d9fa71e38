#include <catch2/catch.hpp>

#include "runtime/memory_plan.h"

using namespace qsim;

TEST_CASE("buffers alive at the same time never overlap, and dead ones are reused") {
  // A chain a -> b -> c -> d: each value lives from its producer to its consumer.
  std::vector<Lifetime> chain = {{0, 1, 256}, {1, 2, 128}, {2, 3, 256}, {3, 4, 64}};
  size_t total = 0;
  auto offsets = assign_offsets(chain, &total);
  for (size_t i = 0; i < chain.size(); ++i)
    for (size_t j = i + 1; j < chain.size(); ++j) {
      bool live_together = chain[i].first <= chain[j].last && chain[j].first <= chain[i].last;
      bool overlap = offsets[i] < offsets[j] + chain[j].bytes && offsets[j] < offsets[i] + chain[i].bytes;
      CHECK_FALSE((live_together && overlap));
    }
  CHECK(total < 256 + 128 + 256 + 64);
  CHECK(total == 256 + 128);
}

TEST_CASE("an empty plan needs no memory") {
  size_t total = 1;
  CHECK(assign_offsets({}, &total).empty());
  CHECK(total == 0);
}
