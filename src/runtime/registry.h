// (Domain, op type) -> kernel factory: the default ONNX domain, and qsim's own domain for the
// nodes its graph rewrites make. Built once, read-only afterwards.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "graph/op_info.h"
#include "runtime/kernel.h"

namespace qsim {

class KernelRegistry {
 public:
  void add(const std::string& op_type, KernelFactory factory, const std::string& domain = "");
  const KernelFactory* find(const std::string& op_type, const std::string& domain) const;
  // Op types of the default domain.
  std::vector<std::string> op_types() const;
  // Every (domain, op type) with a kernel.
  std::vector<std::pair<std::string, std::string>> keys() const;

 private:
  std::map<std::pair<std::string, std::string>, KernelFactory> factories_;  // by (domain, op)
};

// The registry with every op qsim implements (immutable after first use).
const KernelRegistry& default_registry();

// One per op family file under runtime/ops/. Conv and the pools are compiled once per kernel
// path (util/isa_namespace.h) and registered from the path the CPU takes (registry.cpp).
void register_elementwise_ops(KernelRegistry& registry);
void register_activation_ops(KernelRegistry& registry);
void register_gemm_ops(KernelRegistry& registry);
void register_normalization_ops(KernelRegistry& registry);
void register_reduce_ops(KernelRegistry& registry);
void register_shape_ops(KernelRegistry& registry);
void register_tensor_ops(KernelRegistry& registry);
void register_quantize_ops(KernelRegistry& registry);

}  // namespace qsim
