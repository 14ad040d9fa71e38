// What the engine knows about one set of input shapes: every value's type, the values folded
// at plan time, the steps left to run and where their values live in an arena.
#pragma once

#include <cstddef>
#include <vector>

#include "runtime/kernel.h"

namespace qsim {

struct ExecutionPlan {
  struct Step {
    size_t node;
    std::vector<int> inputs;   // value ids, -1 for absent
    std::vector<int> outputs;  // value ids, -1 for unused
    size_t workspace_bytes = 0;
    // The views of those values (nullptr for absent or unused), set when memory is assigned.
    std::vector<const Tensor*> input_views;
    std::vector<Tensor*> output_views;
  };
  std::vector<ValueType> types;   // by value id
  std::vector<Tensor> constants;  // by value id; empty when not constant
  std::vector<Tensor> views;      // by value id; arena views, constants, inputs
  std::vector<Step> steps;
  std::vector<int> input_ids, output_ids;
  // The values held in an arena, at these offsets; views of them point into the arena whose
  // data is `bound_arena`.
  std::vector<size_t> arena_ids;
  std::vector<size_t> arena_offsets;
  size_t arena_bytes = 0;
  size_t workspace_bytes = 0;
  const void* bound_arena = nullptr;

  bool is_constant(int id) const { return constants[id].dtype() != DType::kUndefined; }
};

}  // namespace qsim
