// Fresh names for tensors and nodes a rewrite inserts (the QDQ export, SmoothQuant's Mul).
#pragma once

#include <set>
#include <string>

#include "graph/graph.h"

namespace qsim {

// Every name in use in the graph, so inserted tensors and nodes get fresh ones.
class NameTable {
 public:
  explicit NameTable(const Graph& graph) {
    for (const auto& [name, tensor] : graph.initializers) used_.insert(name);
    for (const auto* list : {&graph.inputs, &graph.outputs})
      for (const ValueInfo& info : *list) used_.insert(info.name);
    for (const Node& node : graph.nodes) {
      used_.insert(node.name);
      used_.insert(node.inputs.begin(), node.inputs.end());
      used_.insert(node.outputs.begin(), node.outputs.end());
    }
  }

  // `base`, or `base_N` with the smallest N that is free.
  std::string fresh(const std::string& base) {
    std::string name = base;
    for (int n = 1; used_.count(name); ++n) name = base + "_" + std::to_string(n);
    used_.insert(name);
    return name;
  }

 private:
  std::set<std::string> used_;
};

}  // namespace qsim
