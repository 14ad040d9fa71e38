// OpenBLAS as qsim uses it: include this instead of <cblas.h>.
#pragma once

#include <cblas.h>

namespace qsim {

// Holds OpenBLAS at one thread while it lives. qsim splits work over its own threads and
// calls sgemm from each of them at once; BLAS threads on top would oversubscribe the cores,
// and OpenBLAS runs concurrent threaded calls one after another. OpenBLAS (0.3.21) has only a
// process-wide thread count, so scopes nest across all threads of the process: the first one
// in sets 1, the last one out restores the count it found. Another OpenBLAS user in the
// process (numpy) keeps its setting across qsim's calls and runs single-threaded during them.
// Engine::run, AdaRound and every C API call on a session take one.
class BlasSingleThreadScope {
 public:
  BlasSingleThreadScope();
  ~BlasSingleThreadScope();
  BlasSingleThreadScope(const BlasSingleThreadScope&) = delete;
  BlasSingleThreadScope& operator=(const BlasSingleThreadScope&) = delete;
};

}  // namespace qsim
