#include "runtime/batch_slices.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "graph/op_info.h"
#include "runtime/registry.h"

namespace qsim {

std::vector<int64_t> batch_slice_sizes(int64_t batch) {
  if (batch < 2 * kSliceImages) return {};
  std::vector<int64_t> sizes(static_cast<size_t>(batch / kSliceImages), kSliceImages);
  if (batch % kSliceImages != 0) sizes.push_back(batch % kSliceImages);
  return sizes;
}

namespace {

// Ops whose output rows for an image are computed from that image's rows alone whenever
// their run-time inputs and outputs all lead with the batch (graph/op_info.h); the shape checks
// below catch a Concat, Split, Gather or Transpose along the batch.
bool treats_images_apart(const Node& node) {
  return is_per_image(node);
}

// Softmax along the batch (before opset 13, over everything from `axis` on).
bool softmax_along_batch(const Node& node, int64_t opset, size_t rank) {
  const int64_t axis = node.get_int("axis", opset < 13 ? 1 : -1);
  return axis == 0 || axis == -static_cast<int64_t>(rank);
}

bool leads_with(const ValueType& type, int64_t batch) {
  return !type.shape.empty() && type.shape[0] == batch;
}

bool same_contents(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() &&
         std::memcmp(a.raw(), b.raw(), a.byte_size()) == 0;
}

// One run-time value of a step: the same constant in both plans, or computed at run time,
// batch-leading in both and otherwise of the same shape. A Reshape's shape holds the batch size, so
// it may differ.
bool value_fits(const ExecutionPlan& whole, int whole_id, const ExecutionPlan& slice, int slice_id,
                int64_t batch, int64_t slice_batch, bool may_hold_batch_size) {
  if (whole_id < 0 || slice_id < 0) return whole_id == slice_id;
  const bool constant = whole.is_constant(whole_id);
  if (constant != slice.is_constant(slice_id)) return false;
  if (constant)
    return may_hold_batch_size ||
           same_contents(whole.constants[whole_id], slice.constants[slice_id]);
  // Slicing the batch must change nothing but the batch: a run-time weight that happens to
  // lead with the batch size (a Conv's filters as a model input) would shrink with it.
  const Shape& a = whole.types[whole_id].shape;
  const Shape& b = slice.types[slice_id].shape;
  return leads_with(whole.types[whole_id], batch) &&
         leads_with(slice.types[slice_id], slice_batch) &&
         std::equal(a.begin() + 1, a.end(), b.begin() + 1, b.end());
}

bool step_fits(const Node& node, int64_t opset, const ExecutionPlan& whole,
               const ExecutionPlan::Step& a, const ExecutionPlan& slice,
               const ExecutionPlan::Step& b, int64_t batch, int64_t slice_batch) {
  if (a.node != b.node || a.inputs.size() != b.inputs.size() ||
      a.outputs.size() != b.outputs.size() || !treats_images_apart(node))
    return false;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const bool reshape_shape = node.op_type == "Reshape" && i == 1;
    if (!value_fits(whole, a.inputs[i], slice, b.inputs[i], batch, slice_batch, reshape_shape))
      return false;
  }
  for (size_t o = 0; o < a.outputs.size(); ++o)
    if (!value_fits(whole, a.outputs[o], slice, b.outputs[o], batch, slice_batch, false))
      return false;
  if (node.op_type == "Softmax" && a.inputs[0] >= 0 &&
      softmax_along_batch(node, opset, whole.types[a.inputs[0]].shape.size()))
    return false;
  return true;
}

}  // namespace

bool runs_image_by_image(const Graph& graph, int64_t opset, const ExecutionPlan& whole,
                         const ExecutionPlan& slice, int64_t batch, int64_t slice_batch) {
  if (batch == slice_batch || whole.steps.size() != slice.steps.size() ||
      whole.input_ids.size() != slice.input_ids.size() ||
      whole.output_ids.size() != slice.output_ids.size())
    return false;
  for (size_t i = 0; i < whole.input_ids.size(); ++i)
    if (!leads_with(whole.types[whole.input_ids[i]], batch) ||
        !leads_with(slice.types[slice.input_ids[i]], slice_batch))
      return false;
  for (size_t s = 0; s < whole.steps.size(); ++s) {
    const ExecutionPlan::Step& a = whole.steps[s];
    if (!step_fits(graph.nodes[a.node], opset, whole, a, slice, slice.steps[s], batch, slice_batch))
      return false;
  }
  // An output folded at plan time (a constant) would be repeated per slice.
  for (size_t o = 0; o < whole.output_ids.size(); ++o)
    if (whole.is_constant(whole.output_ids[o]) ||
        !value_fits(whole, whole.output_ids[o], slice, slice.output_ids[o], batch, slice_batch,
                    false))
      return false;
  return true;
}

}  // namespace qsim
