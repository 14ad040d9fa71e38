#include "runtime/registry.h"

#include "util/isa_dispatch.h"

namespace qsim {

#define QSIM_DECLARE_PATH_OPS(ns)                   \
  namespace ns {                                    \
  void register_conv_ops(KernelRegistry& registry); \
  void register_pool_ops(KernelRegistry& registry); \
  }
QSIM_FOR_EACH_ISA(QSIM_DECLARE_PATH_OPS)
#undef QSIM_DECLARE_PATH_OPS

void KernelRegistry::add(const std::string& op_type, KernelFactory factory,
                         const std::string& domain) {
  factories_[{domain, op_type}] = std::move(factory);
}

const KernelFactory* KernelRegistry::find(const std::string& op_type,
                                          const std::string& domain) const {
  auto it = factories_.find({domain, op_type});
  return it == factories_.end() ? nullptr : &it->second;
}

std::vector<std::string> KernelRegistry::op_types() const {
  std::vector<std::string> names;
  for (const auto& [key, factory] : factories_)
    if (key.first.empty()) names.push_back(key.second);
  return names;
}

std::vector<std::pair<std::string, std::string>> KernelRegistry::keys() const {
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto& [key, factory] : factories_) keys.push_back(key);
  return keys;
}

// Built on first use, from the kernel path the process takes (util/cpu_isa.h).
const KernelRegistry& default_registry() {
  require_valid_isa_cap();
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    register_elementwise_ops(r);
    register_activation_ops(r);
    QSIM_ISA_ENTRY(register_conv_ops)(r);
    register_gemm_ops(r);
    register_normalization_ops(r);
    QSIM_ISA_ENTRY(register_pool_ops)(r);
    register_reduce_ops(r);
    register_shape_ops(r);
    register_tensor_ops(r);
    register_quantize_ops(r);
    return r;
  }();
  return registry;
}

}  // namespace qsim
