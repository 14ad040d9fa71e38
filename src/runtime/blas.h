// OpenBLAS as qsim uses it: include this instead of <cblas.h>.
#pragma once

#include <cblas.h>

namespace qsim {

// Pins OpenBLAS to one thread, once per process. qsim splits work over its own threads and
// calls sgemm from each of them at once; BLAS threads on top would oversubscribe the cores
// and make timings depend on the host's OPENBLAS_NUM_THREADS. Every Engine calls it.
void use_single_threaded_blas();

}  // namespace qsim
