#include "runtime/registry.h"

namespace qsim {

void register_pool_ops(KernelRegistry& /*registry*/) {}

}  // namespace qsim
