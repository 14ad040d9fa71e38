// Who reads and who writes each tensor of a graph, for rewrites that must know whether a
// tensor is theirs alone to change (BN folding, cross-layer equalization).
#pragma once

#include <set>
#include <string>
#include <unordered_map>

#include "graph/graph.h"

namespace qsim {

struct TensorUses {
  std::unordered_map<std::string, int> readers;  // node inputs reading the tensor
  std::unordered_map<std::string, size_t> producer;
  std::set<std::string> graph_outputs;

  explicit TensorUses(const Graph& graph) {
    for (size_t i = 0; i < graph.nodes.size(); ++i) {
      for (const auto& in : graph.nodes[i].inputs)
        if (!in.empty()) readers[in]++;
      for (const auto& out : graph.nodes[i].outputs)
        if (!out.empty()) producer[out] = i;
    }
    for (const auto& v : graph.outputs) graph_outputs.insert(v.name);
  }
  // Read by exactly one node input and not a graph output: safe to rewrite or rename.
  bool private_to_one_reader(const std::string& name) const {
    auto it = readers.find(name);
    return it != readers.end() && it->second == 1 && graph_outputs.count(name) == 0;
  }
};

}  // namespace qsim
