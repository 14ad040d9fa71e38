// The layers AdaRound optimizes (Conv incl. grouped and depthwise, ConvTranspose, Gemm, MatMul
// with a constant weight), each seen as independent matrix products per group:
//   Y_g [rows x positions] = W_g [rows x depth] * X_g [depth x positions] + bias,
// one product per calibration sample. A Conv's X_g is its im2col column matrix (depth = group
// channels x kernel taps, positions = output pixels), a ConvTranspose's the scatter of its input
// onto the output pixels each tap reaches, a Gemm's or MatMul's the transposed input rows.
// Lowered blocks are laid out as [groups * depth] (inputs) or [groups * rows] (outputs) rows of
// `positions` values, `ld` apart.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "runtime/ops/conv_params.h"

namespace qsim {

enum class ActivationKind { kIdentity, kRelu, kClip, kPRelu, kTanh, kSigmoid };
const char* activation_name(ActivationKind kind);

// The activation the reconstruction target passes through (AIMET's "act_func").
struct Activation {
  ActivationKind kind = ActivationKind::kIdentity;
  float lower = 0.0f;  // kClip bounds
  float upper = 0.0f;
  std::vector<float> slope;  // kPRelu: one per output channel
};

struct LayerShape {
  int64_t groups = 1;
  int64_t rows = 1;       // output channels per group
  int64_t depth = 1;      // inputs per output channel (channels x taps of a group)
  int64_t positions = 1;  // output positions per sample

  int64_t outputs() const { return groups * rows; }
  int64_t weights() const { return groups * rows * depth; }
  int64_t input_floats() const { return groups * depth * positions; }
  int64_t output_floats() const { return groups * rows * positions; }
};

// A form of one sample's input smaller than its lowered rows, cached instead of them and
// lowered again whenever a minibatch draws the sample (a Conv's input planes, 1/9 of a 3x3
// window's columns). Thread-safe: each thread passes its own scratch.
class CompactInput {
 public:
  virtual ~CompactInput() = default;
  virtual int64_t floats() const = 0;  // per sample
  // Sample `sample` of the layer's input tensor `x`, in the compact form.
  virtual void store(const Tensor& x, int64_t sample, float* dst) const = 0;
  virtual size_t scratch_bytes() const = 0;
  virtual void prepare_scratch(std::byte* scratch) const = 0;
  // The sample's [groups * depth] rows of positions, `ld` apart, as lower_input writes them.
  virtual void lower(const float* compact, float* dst, int64_t ld, std::byte* scratch) const = 0;
  // A Conv's window, when the compact form is its input planes ([channels][spatial]).
  virtual const WindowGeometry* window() const { return nullptr; }
};

class LinearLayer {
 public:
  virtual ~LinearLayer() = default;

  const Node& node() const { return node_; }
  const std::string& input() const { return node_.inputs[0]; }
  const std::string& weight() const { return node_.inputs[1]; }
  // The tensor the float model's target is read from: the activation's output, or the
  // layer's when the target is the layer output itself.
  const std::string& target() const { return target_; }
  const Activation& activation() const { return activation_; }
  // Valid once bind() has seen an input shape (positions), else only groups, rows, depth.
  const LayerShape& shape() const { return shape_; }
  // Element i of the [groups][rows][depth] view is element weight_order()[i] of the weight.
  const std::vector<int64_t>& weight_order() const { return weight_order_; }
  // Per output channel (zeros for a layer without one).
  const std::vector<float>& bias() const { return bias_; }
  // The initializer that holds bias() as it is (a [outputs] vector), or "" when there is
  // none a trained bias could replace.
  const std::string& trainable_bias() const { return trainable_bias_; }

  // Fixes the geometry for inputs of `input_shape`; throws kShape when it does not fit.
  virtual void bind(const Shape& input_shape) = 0;
  // How many samples (products) an input tensor holds, and an output tensor.
  virtual int64_t samples_in(const Tensor& x) const = 0;
  int64_t output_samples_in(const Tensor& y) const { return y.dim(0); }
  // Not thread-safe (Conv lowers through a scratch buffer it owns).
  virtual void lower_input(const Tensor& x, int64_t sample, float* dst, int64_t ld) const = 0;
  virtual void lower_output(const Tensor& y, int64_t sample, float* dst, int64_t ld) const = 0;
  // What to cache per sample instead of its lowered rows, once bound; nullptr: the rows.
  virtual const CompactInput* compact_input() const { return nullptr; }
  // A Conv's window, once bound; nullptr for other layers.
  virtual const WindowGeometry* window() const { return nullptr; }

 protected:
  LinearLayer(const Node& node, Activation activation, std::string target)
      : node_(node), target_(std::move(target)), activation_(std::move(activation)) {}

  Node node_;
  std::string target_;
  Activation activation_;
  LayerShape shape_;
  std::vector<int64_t> weight_order_;
  std::vector<float> bias_;
  std::string trainable_bias_;
};

struct LayerSearch {
  std::vector<std::unique_ptr<LinearLayer>> layers;  // in graph (topological) order
  std::vector<std::string> notes;  // layers with a quantized weight left out, and why
};

// The layers of `model` whose weight (input 1) is in `quantized_weights`, with the
// activation that follows each; the others that have a quantized weight go to notes.
LayerSearch find_adaround_layers(const Model& model,
                                 const std::set<std::string>& quantized_weights);

}  // namespace qsim
