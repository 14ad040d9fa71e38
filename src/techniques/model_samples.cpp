#include "techniques/model_samples.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "util/error.h"

namespace qsim {
namespace {

Shape sample_shape(const Tensor& t) {
  Shape shape = t.shape();
  shape[0] = 1;
  return shape;
}

}  // namespace

ModelSamples::ModelSamples(const Engine& engine, const BatchReader& next_batch,
                           NanPolicy nan_policy, int64_t limit, MemoryBudget& budget,
                           std::string technique)
    : technique_(std::move(technique)) {
  const Graph& graph = engine.model().graph;
  CalibrationStream stream(engine, next_batch, nan_policy, technique_);
  std::vector<Tensor> batch;
  while (count_ < limit && stream.next(batch)) {
    if (batch.empty()) continue;  // every sample dropped for NaN/Inf
    check_batch(graph, batch);
    if (!cache_) start(batch, limit, budget);
    append(batch, limit);
  }
}

std::vector<Tensor> ModelSamples::batch(int64_t first, int64_t count) const {
  std::vector<Tensor> inputs;
  for (Shape shape : shapes_) {
    shape[0] = count;
    inputs.push_back(Tensor::uninitialized(DType::kFloat32, shape));
  }
  std::vector<float> scratch(static_cast<size_t>(cache_->sample_floats()));
  for (int64_t i = 0; i < count; ++i) {
    const float* block = cache_->read(first + i, scratch.data());
    for (size_t j = 0; j < inputs.size(); ++j) {
      const int64_t floats = offsets_[j + 1] - offsets_[j];
      std::copy(block + offsets_[j], block + offsets_[j + 1], inputs[j].data<float>() + i * floats);
    }
  }
  return inputs;
}

// Every input float, holding as many samples as the first, of the first batch's shapes.
void ModelSamples::check_batch(const Graph& graph, const std::vector<Tensor>& batch) const {
  for (size_t j = 0; j < batch.size(); ++j) {
    const Tensor& t = batch[j];
    const std::string& name = graph.inputs[j].name;
    require(t.dtype() == DType::kFloat32, ErrorCode::kUnsupported,
            technique_ + ": model input '" + name + "' is " + t.describe() +
                "; it caches float inputs only");
    require(t.rank() >= 1 && t.dim(0) == batch[0].dim(0), ErrorCode::kShape,
            technique_ + ": calibration batch input '" + name + "' " + t.describe() +
                " does not hold as many samples as the first input");
    if (shapes_.empty()) continue;  // the first batch sets them
    const Shape shape = sample_shape(t);
    require(shape == shapes_[j], ErrorCode::kShape,
            technique_ + ": calibration input '" + name + "' has samples of " +
                shape_to_string(shape) + " and of " + shape_to_string(shapes_[j]) +
                "; it needs samples of one shape");
  }
}

void ModelSamples::start(const std::vector<Tensor>& batch, int64_t limit, MemoryBudget& budget) {
  offsets_.push_back(0);
  for (const Tensor& t : batch) {
    shapes_.push_back(sample_shape(t));
    offsets_.push_back(offsets_.back() + element_count(shapes_.back()));
  }
  cache_ = std::make_unique<SampleCache>(limit, offsets_.back(), budget, "calibration samples");
}

void ModelSamples::append(const std::vector<Tensor>& batch, int64_t limit) {
  std::vector<float> block(static_cast<size_t>(offsets_.back()));
  for (int64_t i = 0; i < batch[0].dim(0) && count_ < limit; ++i) {
    for (size_t j = 0; j < batch.size(); ++j) {
      const int64_t floats = offsets_[j + 1] - offsets_[j];
      const float* src = batch[j].data<float>() + i * floats;
      std::copy(src, src + floats, block.data() + offsets_[j]);
    }
    cache_->write(count_++, block.data());
  }
}

}  // namespace qsim
