#include "runtime/registry.h"

namespace qsim {

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

const KernelRegistry& default_registry() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    register_elementwise_ops(r);
    register_activation_ops(r);
    register_conv_ops(r);
    register_gemm_ops(r);
    register_normalization_ops(r);
    register_pool_ops(r);
    register_reduce_ops(r);
    register_shape_ops(r);
    register_tensor_ops(r);
    register_quantize_ops(r);
    return r;
  }();
  return registry;
}

}  // namespace qsim
