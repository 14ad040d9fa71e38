// Op type -> kernel factory for the default ONNX domain. Built once, read-only afterwards.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "runtime/kernel.h"

namespace qsim {

class KernelRegistry {
 public:
  void add(const std::string& op_type, KernelFactory factory);
  const KernelFactory* find(const std::string& op_type, const std::string& domain) const;
  std::vector<std::string> op_types() const;

 private:
  std::map<std::string, KernelFactory> factories_;
};

// The registry with every op qsim implements (immutable after first use).
const KernelRegistry& default_registry();

// One per op family file under runtime/ops/.
void register_elementwise_ops(KernelRegistry& registry);
void register_activation_ops(KernelRegistry& registry);
void register_conv_ops(KernelRegistry& registry);
void register_gemm_ops(KernelRegistry& registry);
void register_normalization_ops(KernelRegistry& registry);
void register_pool_ops(KernelRegistry& registry);
void register_reduce_ops(KernelRegistry& registry);
void register_shape_ops(KernelRegistry& registry);
void register_tensor_ops(KernelRegistry& registry);
void register_quantize_ops(KernelRegistry& registry);

}  // namespace qsim
