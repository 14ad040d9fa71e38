#include "techniques/adaround_layer.h"

#include <algorithm>
#include <limits>
#include <map>
#include <numeric>
#include <span>

#include "graph/op_info.h"
#include "runtime/ops/conv_params.h"
#include "runtime/ops/im2col.h"
#include "util/error.h"

namespace qsim {
namespace {

// Readers of every tensor, and the graph outputs.
struct TensorReaders {
  std::map<std::string, std::vector<const Node*>> readers;
  std::set<std::string> graph_outputs;

  explicit TensorReaders(const Graph& graph) {
    for (const Node& node : graph.nodes)
      for (const auto& in : node.inputs)
        if (!in.empty()) readers[in].push_back(&node);
    for (const auto& v : graph.outputs) graph_outputs.insert(v.name);
  }
  size_t count(const std::string& tensor) const {
    auto it = readers.find(tensor);
    return it == readers.end() ? 0 : it->second.size();
  }
  // The only node reading `tensor` when nothing else (not even the graph output) does.
  const Node* sole_reader(const std::string& tensor) const {
    if (count(tensor) != 1 || graph_outputs.count(tensor) != 0) return nullptr;
    return readers.at(tensor).front();
  }
};

const Tensor* float_constant(const Graph& graph, const Node& node, size_t input) {
  if (!node.has_input(input)) return nullptr;
  const Tensor* t = graph.find_initializer(node.inputs[input]);
  return t != nullptr && t->dtype() == DType::kFloat32 ? t : nullptr;
}

// A Clip's bound: the constant input (opset 11+) or attribute (before), else `fallback`;
// false when the bound is computed at run time.
bool clip_bound(const Graph& graph, const Node& clip, size_t input, const char* attribute,
                float fallback, float& bound) {
  bound = clip.get_float(attribute, fallback);
  if (!clip.has_input(input)) return true;
  const Tensor* t = float_constant(graph, clip, input);
  if (t == nullptr || t->size() != 1) return false;
  bound = t->data<float>()[0];
  return true;
}

// A PRelu slope broadcast over output channels: a scalar, or `outputs` values along the
// channel axis (which lies `channel_from_end` axes before the last).
bool prelu_slope(const Tensor& slope, int64_t outputs, int64_t channel_from_end,
                 std::vector<float>& per_channel) {
  const float* values = slope.data<float>();
  if (slope.size() == 1) {
    per_channel.assign(static_cast<size_t>(outputs), values[0]);
    return true;
  }
  const int64_t channel_axis = slope.rank() - 1 - channel_from_end;
  if (channel_axis < 0 || slope.dim(channel_axis) != outputs || slope.size() != outputs)
    return false;
  per_channel.assign(values, values + outputs);
  return true;
}

// The activation that alone reads `layer`'s output, when AdaRound models it.
struct FollowingActivation {
  Activation activation;
  std::string target;
};

FollowingActivation following_activation(const Graph& graph, const TensorReaders& readers,
                                         const Node& layer, int64_t outputs,
                                         int64_t channel_from_end) {
  FollowingActivation result{{}, layer.outputs[0]};
  const Node* next = readers.sole_reader(layer.outputs[0]);
  if (next == nullptr || !next->domain.empty() || next->inputs[0] != layer.outputs[0])
    return result;
  Activation a;
  const std::string& op = next->op_type;
  if (op == "Relu") {
    a.kind = ActivationKind::kRelu;
  } else if (op == "Tanh") {
    a.kind = ActivationKind::kTanh;
  } else if (op == "Sigmoid") {
    a.kind = ActivationKind::kSigmoid;
  } else if (op == "Clip") {
    a.kind = ActivationKind::kClip;
    const float big = std::numeric_limits<float>::max();
    if (!clip_bound(graph, *next, 1, "min", -big, a.lower) ||
        !clip_bound(graph, *next, 2, "max", big, a.upper))
      return result;
  } else if (op == "PRelu") {
    a.kind = ActivationKind::kPRelu;
    const Tensor* slope = float_constant(graph, *next, 1);
    if (slope == nullptr || !prelu_slope(*slope, outputs, channel_from_end, a.slope)) return result;
  } else {
    return result;
  }
  return {std::move(a), next->outputs[0]};
}

// Per output channel `outputs` values of a bias tensor that is a scalar or a vector of them.
bool channel_vector(const Tensor& t, int64_t outputs, float scale, std::vector<float>& out) {
  if (t.size() != 1 && t.size() != outputs) return false;
  for (int64_t d = 0; d + 1 < t.rank(); ++d)
    if (t.dim(d) != 1) return false;
  out.resize(static_cast<size_t>(outputs));
  for (int64_t m = 0; m < outputs; ++m)
    out[static_cast<size_t>(m)] = scale * t.data<float>()[t.size() == 1 ? 0 : m];
  return true;
}

// Copies the [channels x positions] block of sample `sample` of an NC... tensor into rows.
void copy_channel_rows(const Tensor& y, int64_t sample, int64_t channels, int64_t positions,
                       float* dst, int64_t ld) {
  const float* src = y.data<float>() + sample * channels * positions;
  for (int64_t c = 0; c < channels; ++c)
    std::copy(src + c * positions, src + (c + 1) * positions, dst + c * ld);
}

std::vector<int64_t> identity_order(int64_t size) {
  std::vector<int64_t> order(static_cast<size_t>(size));
  std::iota(order.begin(), order.end(), int64_t{0});
  return order;
}

// ----- Conv: X_g is the group's im2col column matrix -----

// A Conv sample's input planes, im2col'd when a minibatch draws them.
class ConvInputPlanes : public CompactInput {
 public:
  ConvInputPlanes(const WindowGeometry& g, const LayerShape& shape)
      : g_(g), shape_(shape), group_channels_(shape.depth / g.kernel_size()) {}

  int64_t floats() const override { return shape_.groups * group_channels_ * g_.in_size(); }
  void store(const Tensor& x, int64_t sample, float* dst) const override {
    const float* image = x.data<float>() + sample * floats();
    std::copy(image, image + floats(), dst);
  }
  size_t scratch_bytes() const override { return im2col_scratch_bytes(g_); }
  void prepare_scratch(std::byte* scratch) const override { prepare_im2col_scratch(g_, scratch); }
  void lower(const float* compact, float* dst, int64_t ld, std::byte* scratch) const override {
    for (int64_t g = 0; g < shape_.groups; ++g)
      im2col(g_, compact + g * group_channels_ * g_.in_size(), group_channels_, 0, g_.out_rows(),
             dst + g * shape_.depth * ld, ld, scratch);
  }
  const WindowGeometry* window() const override { return &g_; }

 private:
  WindowGeometry g_;
  LayerShape shape_;
  int64_t group_channels_;
};

class ConvLayer : public LinearLayer {
 public:
  ConvLayer(const Node& node, const Tensor& weight, const Tensor* bias, FollowingActivation f)
      : LinearLayer(node, std::move(f.activation), std::move(f.target)),
        attrs_(parse_window_attributes(node)),
        kernel_(weight.shape().begin() + 2, weight.shape().end()) {
    shape_.groups = node.get_int("group", 1);
    require(shape_.groups >= 1 && weight.dim(0) % shape_.groups == 0, ErrorCode::kShape,
            node.label() + ": " + weight.describe() + " weights do not split into " +
                std::to_string(shape_.groups) + " groups");
    shape_.rows = weight.dim(0) / shape_.groups;
    shape_.depth = weight.size() / weight.dim(0);
    weight_order_ = identity_order(weight.size());
    bias_.assign(static_cast<size_t>(weight.dim(0)), 0.0f);
    if (bias != nullptr) {
      std::copy(bias->data<float>(), bias->data<float>() + bias->size(), bias_.begin());
      trainable_bias_ = node.inputs[2];
    }
  }

  void bind(const Shape& x) override {
    geometry_ = forward_window(node_, attrs_, x, kernel_);
    require(x[1] * geometry_.kernel_size() == shape_.groups * shape_.depth, ErrorCode::kShape,
            node_.label() + ": input " + shape_to_string(x) + " does not fit its weights");
    shape_.positions = geometry_.out_size();
    scratch_.assign((im2col_scratch_bytes(geometry_) + sizeof(float) - 1) / sizeof(float), 0.0f);
    prepare_im2col_scratch(geometry_, reinterpret_cast<std::byte*>(scratch_.data()));
    planes_ = std::make_unique<ConvInputPlanes>(geometry_, shape_);
    if (planes_->floats() >= shape_.input_floats()) planes_.reset();  // e.g. 1x1, unit strides
  }

  const CompactInput* compact_input() const override { return planes_.get(); }
  const WindowGeometry* window() const override { return &geometry_; }

  int64_t samples_in(const Tensor& x) const override { return x.dim(0); }

  void lower_input(const Tensor& x, int64_t sample, float* dst, int64_t ld) const override {
    const int64_t group_channels = shape_.depth / geometry_.kernel_size();
    const int64_t plane = geometry_.in_size();
    const float* image = x.data<float>() + sample * shape_.groups * group_channels * plane;
    for (int64_t g = 0; g < shape_.groups; ++g)
      im2col(geometry_, image + g * group_channels * plane, group_channels, 0, geometry_.out_rows(),
             dst + g * shape_.depth * ld, ld, reinterpret_cast<std::byte*>(scratch_.data()));
  }

  void lower_output(const Tensor& y, int64_t sample, float* dst, int64_t ld) const override {
    copy_channel_rows(y, sample, shape_.outputs(), shape_.positions, dst, ld);
  }

 private:
  WindowAttributes attrs_;
  Shape kernel_;
  WindowGeometry geometry_;
  mutable std::vector<float> scratch_;
  std::unique_ptr<ConvInputPlanes> planes_;
};

// ----- ConvTranspose: X_g[(c, tap), y] is the input value tap `tap` carries to output y -----

class ConvTransposeLayer : public LinearLayer {
 public:
  ConvTransposeLayer(const Node& node, const Tensor& weight, const Tensor* bias,
                     FollowingActivation f)
      : LinearLayer(node, std::move(f.activation), std::move(f.target)),
        attrs_(parse_window_attributes(node)),
        kernel_(weight.shape().begin() + 2, weight.shape().end()),
        output_padding_(node.get_ints("output_padding")),
        output_shape_(node.get_ints("output_shape")) {
    // Weight [in channels, out channels / group, taps...].
    shape_.groups = node.get_int("group", 1);
    require(shape_.groups >= 1 && weight.dim(0) % shape_.groups == 0, ErrorCode::kShape,
            node.label() + ": " + weight.describe() + " weights do not split into " +
                std::to_string(shape_.groups) + " groups");
    const int64_t taps = weight.size() / (weight.dim(0) * weight.dim(1));
    const int64_t group_inputs = weight.dim(0) / shape_.groups;
    shape_.rows = weight.dim(1);
    shape_.depth = group_inputs * taps;
    for (int64_t g = 0; g < shape_.groups; ++g)
      for (int64_t r = 0; r < shape_.rows; ++r)
        for (int64_t c = 0; c < group_inputs; ++c)
          for (int64_t t = 0; t < taps; ++t)
            weight_order_.push_back(((g * group_inputs + c) * shape_.rows + r) * taps + t);
    bias_.assign(static_cast<size_t>(shape_.outputs()), 0.0f);
    if (bias != nullptr) {
      std::copy(bias->data<float>(), bias->data<float>() + bias->size(), bias_.begin());
      trainable_bias_ = node.inputs[2];
    }
  }

  void bind(const Shape& x) override {
    std::span<const int64_t> output_shape = output_shape_;
    if (output_shape.size() == x.size()) output_shape = output_shape.subspan(2);
    geometry_ = transpose_window(node_, attrs_, x, kernel_, output_padding_, output_shape);
    require(x[1] * geometry_.kernel_size() == shape_.groups * shape_.depth, ErrorCode::kShape,
            node_.label() + ": input " + shape_to_string(x) + " does not fit its weights");
    shape_.positions = geometry_.in_size();  // the adjoint convolution's input: Y's pixels
  }

  int64_t samples_in(const Tensor& x) const override { return x.dim(0); }

  void lower_input(const Tensor& x, int64_t sample, float* dst, int64_t ld) const override {
    const WindowGeometry& g = geometry_;
    const int64_t taps = g.kernel_size();
    const int64_t channels = shape_.groups * shape_.depth / taps;
    const int64_t in_size = g.out_size();  // X's pixels
    const float* image = x.data<float>() + sample * channels * in_size;
    for (int64_t row = 0; row < channels * taps; ++row)
      std::fill(dst + row * ld, dst + row * ld + shape_.positions, 0.0f);
    for (int64_t c = 0; c < channels; ++c)
      for_each_tap_row(
          g, [&](int64_t in_row, int64_t out_row, int64_t tap, IndexRange inside, int64_t offset) {
            const float* src = image + c * in_size + in_row * g.out[2];
            float* out = dst + (c * taps + tap) * ld + out_row * g.in[2];
            for (int64_t w = inside.begin; w < inside.end; ++w)
              out[w * g.stride[2] + offset] = src[w];
          });
  }

  void lower_output(const Tensor& y, int64_t sample, float* dst, int64_t ld) const override {
    copy_channel_rows(y, sample, shape_.outputs(), shape_.positions, dst, ld);
  }

 private:
  WindowAttributes attrs_;
  Shape kernel_;
  std::vector<int64_t> output_padding_;
  std::vector<int64_t> output_shape_;
  WindowGeometry geometry_;
};

// ----- Gemm (Y = alpha A' B' + beta C) and MatMul (Y = A B): a sample's rows of A -----

class MatrixLayer : public LinearLayer {
 public:
  // `weight_kn`: B is [K, N] (MatMul, Gemm without transB), else [N, K].
  MatrixLayer(const Node& node, const Tensor& weight, bool weight_kn, FollowingActivation f)
      : LinearLayer(node, std::move(f.activation), std::move(f.target)),
        trans_a_(node.op_type == "Gemm" && node.get_int("transA", 0) != 0),
        alpha_(node.op_type == "Gemm" ? node.get_float("alpha", 1.0f) : 1.0f) {
    shape_.rows = weight_kn ? weight.dim(1) : weight.dim(0);
    shape_.depth = weight_kn ? weight.dim(0) : weight.dim(1);
    if (!weight_kn) {
      weight_order_ = identity_order(weight.size());
    } else {
      for (int64_t n = 0; n < shape_.rows; ++n)
        for (int64_t k = 0; k < shape_.depth; ++k) weight_order_.push_back(k * shape_.rows + n);
    }
    bias_.assign(static_cast<size_t>(shape_.rows), 0.0f);
  }

  // Gemm's C, scaled by beta, when it is one value per output channel.
  bool set_bias(const Tensor& c, float beta, const std::string& name) {
    if (!channel_vector(c, shape_.rows, beta, bias_)) return false;
    if (beta == 1.0f && c.rank() == 1 && c.size() == shape_.rows) trainable_bias_ = name;
    return true;
  }

  // A sample is one row of A (2-D) or one [rows, K] matrix along A's first axis.
  void bind(const Shape& x) override {
    require(x.size() >= 2 && x[trans_a_ ? 0 : x.size() - 1] == shape_.depth, ErrorCode::kShape,
            node_.label() + ": input " + shape_to_string(x) + " does not fit its weights");
    require(!trans_a_ || x.size() == 2, ErrorCode::kShape,
            node_.label() + ": transA needs a 2-D input, not " + shape_to_string(x));
    shape_.positions = x.size() == 2 ? 1 : element_count(x) / (x[0] * shape_.depth);
  }

  int64_t samples_in(const Tensor& x) const override { return trans_a_ ? x.dim(1) : x.dim(0); }

  void lower_input(const Tensor& x, int64_t sample, float* dst, int64_t ld) const override {
    const float* a = x.data<float>();
    const int64_t k_count = shape_.depth;
    if (trans_a_) {
      const int64_t samples = x.dim(1);
      for (int64_t k = 0; k < k_count; ++k) dst[k * ld] = alpha_ * a[k * samples + sample];
      return;
    }
    const float* rows = a + sample * shape_.positions * k_count;
    for (int64_t p = 0; p < shape_.positions; ++p)
      for (int64_t k = 0; k < k_count; ++k) dst[k * ld + p] = alpha_ * rows[p * k_count + k];
  }

  void lower_output(const Tensor& y, int64_t sample, float* dst, int64_t ld) const override {
    const float* rows = y.data<float>() + sample * shape_.positions * shape_.rows;
    for (int64_t p = 0; p < shape_.positions; ++p)
      for (int64_t n = 0; n < shape_.rows; ++n) dst[n * ld + p] = rows[p * shape_.rows + n];
  }

 private:
  bool trans_a_;
  float alpha_;
};

// ----- Which layers qualify -----

std::string skipped(const Node& node, const std::string& weight, const std::string& why) {
  return "adaround: " + node.label() + " skipped (" + why + "); weight '" + weight +
         "' keeps nearest rounding";
}

bool is_supported_op(const Node& node) {
  return is_linear_layer(node);
}

// The layer for a supported node, or why it cannot be one.
std::unique_ptr<LinearLayer> make_layer(const Graph& graph, const TensorReaders& readers,
                                        const Node& node, std::string& why) {
  const std::string& op = node.op_type;
  const Tensor& weight = *graph.find_initializer(node.inputs[1]);
  if (readers.count(node.inputs[1]) != 1) {
    why = "its weight is shared with other nodes";
    return nullptr;
  }
  if (graph.is_initializer(node.inputs[0])) {
    why = "its input is a constant";
    return nullptr;
  }
  const Tensor* bias = nullptr;
  if (op != "MatMul" && node.has_input(2)) {
    bias = float_constant(graph, node, 2);
    if (bias == nullptr) {
      why = "its bias is not a constant float tensor";
      return nullptr;
    }
  }
  if (op == "Conv" || op == "ConvTranspose") {
    const int64_t spatial = weight.rank() - 2;
    const bool transposed = op == "ConvTranspose";
    const int64_t outputs = transposed ? weight.dim(1) * node.get_int("group", 1) : weight.dim(0);
    if (spatial < 1 || (bias != nullptr && bias->size() != outputs)) {
      why = "its weight or bias has an unexpected shape";
      return nullptr;
    }
    FollowingActivation f = following_activation(graph, readers, node, outputs, spatial);
    if (transposed) return std::make_unique<ConvTransposeLayer>(node, weight, bias, std::move(f));
    return std::make_unique<ConvLayer>(node, weight, bias, std::move(f));
  }
  if (weight.rank() != 2) {
    why = "its weight is not a matrix";
    return nullptr;
  }
  const bool weight_kn = op == "MatMul" || node.get_int("transB", 0) == 0;
  const int64_t outputs = weight_kn ? weight.dim(1) : weight.dim(0);
  FollowingActivation f = following_activation(graph, readers, node, outputs, 0);
  auto layer = std::make_unique<MatrixLayer>(node, weight, weight_kn, std::move(f));
  if (bias != nullptr && !layer->set_bias(*bias, node.get_float("beta", 1.0f), node.inputs[2])) {
    why = "its C input is not one value per output channel";
    return nullptr;
  }
  return layer;
}

}  // namespace

const char* activation_name(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::kIdentity:
      return "identity";
    case ActivationKind::kRelu:
      return "Relu";
    case ActivationKind::kClip:
      return "Clip";
    case ActivationKind::kPRelu:
      return "PRelu";
    case ActivationKind::kTanh:
      return "Tanh";
    case ActivationKind::kSigmoid:
      return "Sigmoid";
  }
  return "?";
}

LayerSearch find_adaround_layers(const Model& model,
                                 const std::set<std::string>& quantized_weights) {
  const Graph& graph = model.graph;
  const TensorReaders readers(graph);
  LayerSearch search;
  for (const Node& node : graph.nodes) {
    auto weight = std::find_if(node.inputs.begin(), node.inputs.end(), [&](const std::string& in) {
      return quantized_weights.count(in) != 0;
    });
    if (weight == node.inputs.end()) continue;
    std::string why;
    if (!is_supported_op(node)) {
      why = "AdaRound optimizes Conv, ConvTranspose, Gemm and MatMul weights only";
    } else if (weight - node.inputs.begin() != 1) {
      why = "the quantized parameter is not its weight input";
    } else if (auto layer = make_layer(graph, readers, node, why)) {
      search.layers.push_back(std::move(layer));
      continue;
    }
    search.notes.push_back(skipped(node, *weight, why));
  }
  return search;
}

}  // namespace qsim
