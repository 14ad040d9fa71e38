#include "runtime/blas.h"

#include <mutex>

namespace qsim {
namespace {

// OpenBLAS's own setting is process-wide; so is the bookkeeping that restores it.
std::mutex g_scope_mutex;
int g_scope_depth = 0;
int g_saved_threads = 1;

}  // namespace

BlasSingleThreadScope::BlasSingleThreadScope() {
  std::lock_guard<std::mutex> lock(g_scope_mutex);
  if (g_scope_depth++ > 0) return;
  g_saved_threads = openblas_get_num_threads();
  if (g_saved_threads != 1) openblas_set_num_threads(1);
}

BlasSingleThreadScope::~BlasSingleThreadScope() {
  std::lock_guard<std::mutex> lock(g_scope_mutex);
  if (--g_scope_depth > 0) return;
  if (g_saved_threads != 1) openblas_set_num_threads(g_saved_threads);
}

}  // namespace qsim
