#include "io/encodings_fbs.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
#include <vector>

#include "io/atomic_file.h"
#include "qsim_encodings_generated.h"
#include "util/read_file.h"

namespace qsim {
namespace {

namespace fb = qsim::fbs;

// qsim's enums and the schema's share their numbering, so conversions are plain casts.
static_assert(static_cast<int>(fb::TensorRole::ModelInput) ==
                  static_cast<int>(TensorRole::kModelInput) &&
              static_cast<int>(fb::TensorRole::Activation) ==
                  static_cast<int>(TensorRole::kActivation) &&
              static_cast<int>(fb::TensorRole::Weight) == static_cast<int>(TensorRole::kWeight) &&
              static_cast<int>(fb::TensorRole::Bias) == static_cast<int>(TensorRole::kBias));
static_assert(static_cast<int>(fb::Symmetry::Asymmetric) ==
                  static_cast<int>(Symmetry::kAsymmetric) &&
              static_cast<int>(fb::Symmetry::Symmetric) == static_cast<int>(Symmetry::kSymmetric) &&
              static_cast<int>(fb::Symmetry::StrictSymmetric) ==
                  static_cast<int>(Symmetry::kStrictSymmetric) &&
              static_cast<int>(fb::Symmetry::UnsignedSymmetric) ==
                  static_cast<int>(Symmetry::kUnsignedSymmetric));

static_assert(static_cast<int>(fb::Target::Exact) == static_cast<int>(Target::kExact) &&
              static_cast<int>(fb::Target::OrtAvx2) == static_cast<int>(Target::kOrtAvx2));

using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

// Messages show tiny scales too (std::to_string would print 0.000000).
std::string number_text(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.9g", value);
  return text;
}

bool is_param_role(TensorRole role) {
  return role == TensorRole::kWeight || role == TensorRole::kBias;
}

void check_quantized(const Encoding& e, TensorRole role, ErrorCode code, const std::string& where) {
  const bool bitwidth_ok = (e.bitwidth >= kMinBitwidth && e.bitwidth <= kMaxBitwidth) ||
                           (e.bitwidth == kBiasBitwidth && role == TensorRole::kBias);
  require(bitwidth_ok, code,
          where + ": bit width " + std::to_string(e.bitwidth) + " is outside " +
              std::to_string(kMinBitwidth) + " to " + std::to_string(kMaxBitwidth) +
              " (32 is allowed for biases only)");
  require(e.axis >= -1, code, where + ": axis " + std::to_string(e.axis) + " is negative");
  require(!e.channels.empty(), code, where + ": has no scales");
  require(e.per_channel() || e.channels.size() == 1, code,
          where + ": a per-tensor encoding has " + std::to_string(e.channels.size()) + " scales");
  // Messages are built only on failure: models have up to millions of channels.
  for (size_t c = 0; c < e.channels.size(); ++c) {
    const ChannelEncoding& channel = e.channels[c];
    auto at = [&] { return where + (e.per_channel() ? " channel " + std::to_string(c) : ""); };
    if (!(std::isfinite(channel.scale) && channel.scale > 0.0f))
      fail(code,
           at() + ": scale " + number_text(channel.scale) + " is not a finite positive number");
    if (!offset_matches_symmetry(channel.offset, e.symmetry, e.bitwidth))
      fail(code, at() + ": offset " + std::to_string(channel.offset) + " does not fit a " +
                     std::to_string(e.bitwidth) + "-bit " + symmetry_name(e.symmetry) + " grid");
    if (!std::isfinite(channel.min()) || !std::isfinite(channel.max(e.bitwidth)))
      fail(code,
           at() + ": scale " + number_text(channel.scale) + " puts the grid's ends beyond float32");
  }
}

void check_tensor(const TensorEncoding& t, bool listed_as_param, ErrorCode code,
                  const std::string& source) {
  require(!t.name.empty(), code, source + ": a tensor has an empty name");
  const std::string where = source + ": tensor '" + t.name + "'";
  require(is_param_role(t.role) == listed_as_param, code,
          where + ": a " + tensor_role_name(t.role) + " cannot be listed with the " +
              (listed_as_param ? "params" : "activations"));
  if (t.encoding) return check_quantized(*t.encoding, t.role, code, where);
  require(t.float_bitwidth == 16 || t.float_bitwidth == 32, code,
          where + ": float bit width " + std::to_string(t.float_bitwidth) + " is not 16 or 32");
}

Offset<fb::TensorEncoding> build_tensor(FlatBufferBuilder& builder, const TensorEncoding& t) {
  const auto name = builder.CreateString(t.name);
  const auto role = static_cast<fb::TensorRole>(t.role);
  if (!t.encoding)
    return fb::CreateTensorEncoding(builder, name, role, fb::DType::Float, t.float_bitwidth);
  const Encoding& e = *t.encoding;
  std::vector<float> scales, mins, maxs;
  std::vector<int32_t> offsets;
  for (const ChannelEncoding& channel : e.channels) {
    scales.push_back(channel.scale);
    offsets.push_back(channel.offset);
    mins.push_back(channel.min());
    maxs.push_back(channel.max(e.bitwidth));
  }
  return fb::CreateTensorEncoding(builder, name, role, fb::DType::Int, e.bitwidth,
                                  static_cast<fb::Symmetry>(e.symmetry), e.axis,
                                  builder.CreateVector(scales), builder.CreateVector(offsets),
                                  builder.CreateVector(mins), builder.CreateVector(maxs));
}

Offset<fb::AppliedTechnique> build_technique(FlatBufferBuilder& builder,
                                             const AppliedTechnique& technique) {
  std::vector<Offset<fb::Option>> options;
  for (const auto& [key, value] : technique.options)
    options.push_back(
        fb::CreateOption(builder, builder.CreateString(key), builder.CreateString(value)));
  const auto name = builder.CreateString(technique.name);
  return fb::CreateAppliedTechnique(builder, name, builder.CreateVector(options));
}

Offset<fb::QuantizerArgs> build_quantizer_args(FlatBufferBuilder& builder,
                                               const QuantizerArgs& args) {
  const auto scheme = builder.CreateString(args.quant_scheme);
  return fb::CreateQuantizerArgs(builder, args.activation_bitwidth, args.param_bitwidth,
                                 args.per_channel, args.activation_symmetric, args.param_symmetric,
                                 scheme);
}

std::string text_of(const flatbuffers::String* s) {
  return s ? s->str() : std::string();
}

TensorEncoding read_tensor(const fb::TensorEncoding& t, const std::string& source) {
  TensorEncoding out;
  out.name = t.name()->str();
  const std::string where = source + ": tensor '" + out.name + "'";
  const auto role = static_cast<int>(t.role());
  require(role >= static_cast<int>(fb::TensorRole::MIN) &&
              role <= static_cast<int>(fb::TensorRole::MAX),
          ErrorCode::kParse, where + ": unknown role " + std::to_string(role));
  out.role = static_cast<TensorRole>(role);
  if (t.dtype() == fb::DType::Float) {
    out.float_bitwidth = t.bitwidth();
    return out;
  }
  require(t.dtype() == fb::DType::Int, ErrorCode::kParse,
          where + ": unknown dtype " + std::to_string(static_cast<int>(t.dtype())));
  const auto symmetry = static_cast<int>(t.symmetry());
  require(symmetry >= static_cast<int>(fb::Symmetry::MIN) &&
              symmetry <= static_cast<int>(fb::Symmetry::MAX),
          ErrorCode::kParse, where + ": unknown symmetry " + std::to_string(symmetry));
  const auto* scales = t.scales();
  const auto* offsets = t.offsets();
  const size_t scale_count = scales ? scales->size() : 0;
  const size_t offset_count = offsets ? offsets->size() : 0;
  require(scale_count == offset_count, ErrorCode::kParse,
          where + ": " + std::to_string(scale_count) + " scales but " +
              std::to_string(offset_count) + " offsets");
  for (const auto* informative : {t.min(), t.max()}) {
    const size_t count = informative ? informative->size() : scale_count;  // absent is fine
    require(count == scale_count, ErrorCode::kParse,
            where + ": " + std::to_string(scale_count) + " scales but " + std::to_string(count) +
                " min or max values");
  }
  Encoding e;
  e.bitwidth = t.bitwidth();
  e.symmetry = static_cast<Symmetry>(symmetry);
  e.axis = t.axis();
  for (size_t c = 0; c < scale_count; ++c) e.channels.push_back({scales->Get(c), offsets->Get(c)});
  out.encoding = std::move(e);
  return out;
}

QuantizerArgs read_quantizer_args(const fb::QuantizerArgs* args) {
  QuantizerArgs out;
  if (!args) return out;
  out.activation_bitwidth = args->activation_bitwidth();
  out.param_bitwidth = args->param_bitwidth();
  out.per_channel = args->per_channel();
  out.activation_symmetric = args->activation_symmetric();
  out.param_symmetric = args->param_symmetric();
  if (args->quant_scheme()) out.quant_scheme = args->quant_scheme()->str();
  return out;
}

AppliedTechnique read_technique(const fb::AppliedTechnique& technique) {
  AppliedTechnique out;
  out.name = technique.name()->str();
  if (technique.options())
    for (const fb::Option* option : *technique.options())
      out.options[option->key()->str()] = text_of(option->value());
  return out;
}

// The identifier as printable text for messages (a wrong file may hold any bytes there).
std::string printable_identifier(const uint8_t* bytes) {
  std::string text;
  for (int i = 0; i < 4; ++i)
    text += (bytes[i] >= 0x20 && bytes[i] < 0x7f) ? static_cast<char>(bytes[i]) : '?';
  return text;
}

const fb::Encodings& verified_root(const uint8_t* bytes, size_t size, const std::string& source) {
  require(size >= 2 * sizeof(flatbuffers::uoffset_t), ErrorCode::kParse,
          source + ": too short (" + std::to_string(size) + " bytes) to be a qsim encodings file");
  require(fb::EncodingsBufferHasIdentifier(bytes), ErrorCode::kParse,
          source + ": not a qsim encodings file (file identifier '" +
              printable_identifier(bytes + 4) + "', expected '" + kEncodingsFileIdentifier + "')");
  require(size < FLATBUFFERS_MAX_BUFFER_SIZE, ErrorCode::kParse,
          source + ": larger than a FlatBuffers file can be");
  flatbuffers::Verifier verifier(bytes, size);
  require(fb::VerifyEncodingsBuffer(verifier), ErrorCode::kParse,
          source + ": corrupt or truncated encodings file (FlatBuffers verification failed)");
  const fb::Encodings& root = *fb::GetEncodings(bytes);
  require(root.schema_version() == kEncodingsSchemaVersion, ErrorCode::kParse,
          source + ": schema version " + std::to_string(root.schema_version()) +
              " is not supported (this reader reads version " +
              std::to_string(kEncodingsSchemaVersion) + ")");
  return root;
}

}  // namespace

bool offset_matches_symmetry(int64_t offset, Symmetry symmetry, int bitwidth) {
  if (bitwidth < 1 || bitwidth > kBiasBitwidth) return false;
  const int64_t half = int64_t{1} << (bitwidth - 1);
  switch (symmetry) {
    case Symmetry::kAsymmetric:
      return offset <= 0 && offset >= -(2 * half - 1);
    case Symmetry::kSymmetric:
      return offset == -half;
    case Symmetry::kStrictSymmetric:
      return offset == -(half - 1);
    case Symmetry::kUnsignedSymmetric:
      return offset == 0 || offset == -half;
  }
  return false;
}

void check_encoding_set(const EncodingSet& set, ErrorCode code, const std::string& source) {
  std::set<std::string> names;
  for (const bool params : {false, true}) {
    for (const TensorEncoding& t : params ? set.params : set.activations) {
      check_tensor(t, params, code, source);
      require(names.insert(t.name).second, code,
              source + ": tensor '" + t.name + "' is listed twice");
    }
  }
}

std::string encodings_fbs_bytes(const EncodingSet& set, const std::string& producer_version) {
  check_encoding_set(set, ErrorCode::kInvalidArgument, "encodings");
  FlatBufferBuilder builder;
  std::vector<Offset<fb::TensorEncoding>> tensors;
  for (const auto* list : {&set.activations, &set.params})
    for (const TensorEncoding& t : *list) tensors.push_back(build_tensor(builder, t));
  std::vector<Offset<fb::AppliedTechnique>> techniques;
  for (const AppliedTechnique& technique : set.techniques)
    techniques.push_back(build_technique(builder, technique));
  const auto producer = builder.CreateString(producer_version);
  const auto fingerprint = builder.CreateString(set.model_fingerprint);
  const auto tensor_vector = builder.CreateVector(tensors);
  const auto quantizer_args = build_quantizer_args(builder, set.quantizer_args);
  const auto technique_vector = builder.CreateVector(techniques);
  const auto excluded = builder.CreateVectorOfStrings(set.excluded_layers);
  fb::FinishEncodingsBuffer(
      builder, fb::CreateEncodings(builder, kEncodingsSchemaVersion, producer, fingerprint,
                                   tensor_vector, quantizer_args, technique_vector, excluded,
                                   static_cast<fb::Target>(set.target)));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

void write_encodings_fbs(const EncodingSet& set, const std::string& path,
                         const std::string& producer_version) {
  write_file_atomically(path, encodings_fbs_bytes(set, producer_version));
}

EncodingSet parse_encodings_fbs(const void* data, size_t size, const std::string& source) {
  // FlatBuffers reads scalars in place, so they must be aligned: copy a misaligned buffer.
  if (reinterpret_cast<uintptr_t>(data) % alignof(std::max_align_t) != 0) {
    std::vector<std::max_align_t> aligned(size / sizeof(std::max_align_t) + 1);
    std::memcpy(aligned.data(), data, size);
    return parse_encodings_fbs(aligned.data(), size, source);
  }
  const fb::Encodings& root = verified_root(static_cast<const uint8_t*>(data), size, source);
  EncodingSet set;
  set.model_fingerprint = text_of(root.model_fingerprint());
  require(root.target() >= fb::Target::MIN && root.target() <= fb::Target::MAX, ErrorCode::kParse,
          source + ": target " + std::to_string(static_cast<int>(root.target())) +
              " is unknown (this reader knows " + target_name(Target::kExact) + " 0 and " +
              target_name(Target::kOrtAvx2) + " 1)");
  set.target = static_cast<Target>(root.target());
  // The verifier lets many offsets share one table, vector or string, so a small file can
  // describe any number of channels. Each channel read must be backed by its own bytes (a
  // 4-byte scale and a 4-byte offset) and each name character by one byte: what is copied
  // stays within the file's size.
  size_t budget = size;
  if (root.tensors())
    for (const fb::TensorEncoding* tensor : *root.tensors()) {
      const size_t channels = tensor->scales() ? tensor->scales()->size() : 0;
      const size_t cost = (tensor->name() ? tensor->name()->size() : 0) + 8 * channels;
      require(cost <= budget, ErrorCode::kParse,
              source + ": tensor '" + text_of(tensor->name()).substr(0, 200) +
                  "': the tensors list more channels and name bytes than the " +
                  std::to_string(size) + "-byte file holds (entries share data)");
      budget -= cost;
      TensorEncoding t = read_tensor(*tensor, source);
      (is_param_role(t.role) ? set.params : set.activations).push_back(std::move(t));
    }
  set.quantizer_args = read_quantizer_args(root.quantizer_args());
  if (root.techniques())
    for (const fb::AppliedTechnique* technique : *root.techniques())
      set.techniques.push_back(read_technique(*technique));
  if (root.excluded_layers())
    for (const flatbuffers::String* layer : *root.excluded_layers())
      set.excluded_layers.push_back(layer->str());
  check_encoding_set(set, ErrorCode::kParse, source);
  return set;
}

EncodingSet read_encodings_fbs(const std::string& path) {
  const std::string bytes = read_file_bytes(path);
  return parse_encodings_fbs(bytes.data(), bytes.size(), path);
}

}  // namespace qsim
