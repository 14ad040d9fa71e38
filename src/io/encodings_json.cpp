#include "io/encodings_json.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "io/atomic_file.h"
#include "io/encodings_fbs.h"
#include "util/error.h"
#include "util/json.h"
#include "util/json_value.h"

namespace qsim {
namespace {

// ---------------------------------------------------------------------------------------
// Writing

using Members = std::vector<std::pair<std::string, std::string>>;  // key -> JSON text

// The shortest decimal that reads back to exactly `value` when parsed as a double and rounded
// to float32, which is how JSON readers (Python's json + numpy, this file's reader) get it.
std::string float_text(float value) {
  char text[32];
  for (int precision = 6; precision <= 9; ++precision) {
    std::snprintf(text, sizeof text, "%.*g", precision, static_cast<double>(value));
    if (static_cast<float>(std::strtod(text, nullptr)) == value) break;
  }
  return text;
}

std::string bool_text(bool value) {
  return value ? "true" : "false";
}
// AIMET's 0.6.1 encodings spell is_symmetric as a string.
std::string aimet_bool_text(bool value) {
  return value ? "\"True\"" : "\"False\"";
}

std::string inline_object(const Members& members) {
  std::string out = "{";
  for (size_t i = 0; i < members.size(); ++i)
    out += (i ? ", " : "") + json_quote(members[i].first) + ": " + members[i].second;
  return out + "}";
}

// One item per line, indented two more than the closing bracket at `indent`.
std::string block(char open, const std::vector<std::string>& items, int indent, char close) {
  if (items.empty()) return std::string{open, close};
  const std::string pad(indent + 2, ' ');
  std::string out = std::string(1, open) + "\n";
  for (size_t i = 0; i < items.size(); ++i)
    out += pad + items[i] + (i + 1 < items.size() ? ",\n" : "\n");
  return out + std::string(indent, ' ') + close;
}

std::string member(const std::string& key, const std::string& value) {
  return json_quote(key) + ": " + value;
}

template <typename T, typename Format>
std::string inline_array(const std::vector<T>& values, Format format) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i ? ", " : "") + format(values[i]);
  return out + "]";
}

std::string legacy_channel(const ChannelEncoding& channel, const Encoding& e) {
  return inline_object({{"bitwidth", std::to_string(e.bitwidth)},
                        {"dtype", "\"int\""},
                        {"is_symmetric", aimet_bool_text(e.is_symmetric())},
                        {"max", float_text(channel.max(e.bitwidth))},
                        {"min", float_text(channel.min())},
                        {"offset", std::to_string(channel.offset)},
                        {"scale", float_text(channel.scale)}});
}

std::string legacy_tensor(const TensorEncoding& t) {
  std::vector<std::string> entries;
  if (!t.encoding) {
    entries.push_back(
        inline_object({{"bitwidth", std::to_string(t.float_bitwidth)}, {"dtype", "\"float\""}}));
  } else {
    for (const ChannelEncoding& channel : t.encoding->channels)
      entries.push_back(legacy_channel(channel, *t.encoding));
  }
  return member(t.name, block('[', entries, 4, ']'));
}

std::string v1_tensor(const TensorEncoding& t) {
  if (!t.encoding)
    return inline_object({{"bw", std::to_string(t.float_bitwidth)},
                          {"dtype", "\"FLOAT\""},
                          {"enc_type", "\"PER_TENSOR\""},
                          {"name", json_quote(t.name)}});
  const Encoding& e = *t.encoding;
  std::vector<float> scales;
  std::vector<int32_t> offsets;
  for (const ChannelEncoding& channel : e.channels) {
    scales.push_back(channel.scale);
    offsets.push_back(channel.offset);
  }
  return inline_object(
      {{"bw", std::to_string(e.bitwidth)},
       {"dtype", "\"INT\""},
       {"enc_type", e.per_channel() ? "\"PER_CHANNEL\"" : "\"PER_TENSOR\""},
       {"is_sym", bool_text(e.is_symmetric())},
       {"name", json_quote(t.name)},
       {"offset", inline_array(offsets, [](int32_t o) { return std::to_string(o); })},
       {"scale", inline_array(scales, float_text)}});
}

std::string section(const std::vector<TensorEncoding>& tensors, AimetJsonVersion version) {
  std::vector<std::string> items;
  for (const TensorEncoding& t : tensors)
    items.push_back(version == AimetJsonVersion::k0_6_1 ? legacy_tensor(t) : v1_tensor(t));
  return version == AimetJsonVersion::k0_6_1 ? block('{', items, 2, '}')
                                             : block('[', items, 2, ']');
}

std::string quantizer_args_text(const QuantizerArgs& args) {
  return inline_object({{"activation_bitwidth", std::to_string(args.activation_bitwidth)},
                        {"dtype", "\"int\""},
                        {"is_symmetric", bool_text(args.param_symmetric)},
                        {"param_bitwidth", std::to_string(args.param_bitwidth)},
                        {"per_channel_quantization", bool_text(args.per_channel)},
                        {"quant_scheme", json_quote(args.quant_scheme)}});
}

std::string tensor_extras(const std::vector<TensorEncoding>& tensors) {
  std::vector<std::string> items;
  for (const TensorEncoding& t : tensors) {
    Members extras = {{"role", json_quote(tensor_role_name(t.role))}};
    if (t.encoding) {
      extras.emplace_back("symmetry", json_quote(symmetry_name(t.encoding->symmetry)));
      extras.emplace_back("axis", std::to_string(t.encoding->axis));
    }
    items.push_back(member(t.name, inline_object(extras)));
  }
  return block('{', items, 4, '}');
}

std::string technique_text(const AppliedTechnique& technique) {
  Members options;
  for (const auto& [key, value] : technique.options) options.emplace_back(key, json_quote(value));
  return inline_object({{"name", json_quote(technique.name)}, {"options", inline_object(options)}});
}

std::string qsim_extras(const EncodingSet& set) {
  std::vector<std::string> techniques;
  for (const AppliedTechnique& technique : set.techniques)
    techniques.push_back(technique_text(technique));
  return block('{',
               {member("model_fingerprint", json_quote(set.model_fingerprint)),
                member("target", json_quote(target_name(set.target))),
                member("activation_symmetric", bool_text(set.quantizer_args.activation_symmetric)),
                member("techniques", block('[', techniques, 4, ']')),
                member("activation_tensors", tensor_extras(set.activations)),
                member("param_tensors", tensor_extras(set.params))},
               2, '}');
}

// ---------------------------------------------------------------------------------------
// Reading

struct TensorExtras {
  std::optional<TensorRole> role;
  std::optional<Symmetry> symmetry;
  std::optional<int> axis;
};

struct QsimExtras {
  std::string model_fingerprint;
  Target target = Target::kExact;  // files without the key were made for exact runtimes
  std::optional<bool> activation_symmetric;
  std::vector<AppliedTechnique> techniques;
  std::map<std::string, TensorExtras> activation_tensors;
  std::map<std::string, TensorExtras> param_tensors;
};

// What a file entry says about a tensor, before the extras or inference fill in the rest.
struct FileTensor {
  std::string name;
  bool is_float = false;
  int bitwidth = 0;
  bool is_symmetric = false;
  bool per_channel = false;
  std::vector<ChannelEncoding> channels;
};

const JsonValue& required(const JsonValue& object, const std::string& key,
                          const std::string& where) {
  const JsonValue* value = object.find(key);
  require(value != nullptr, ErrorCode::kParse, where + ": \"" + key + "\" is missing");
  return *value;
}

int32_t int32_of(const JsonValue& value, const std::string& where) {
  const int64_t number = value.as_int(where);
  require(number >= std::numeric_limits<int32_t>::min() &&
              number <= std::numeric_limits<int32_t>::max(),
          ErrorCode::kParse, where + " is out of range");
  return static_cast<int32_t>(number);
}

// AIMET writes booleans as JSON booleans in some places and as "True"/"False" in others.
bool aimet_bool(const JsonValue& value, const std::string& where) {
  if (value.is_bool()) return value.as_bool(where);
  const std::string& text = value.as_string(where);
  require(text == "True" || text == "False" || text == "true" || text == "false", ErrorCode::kParse,
          where + " should be \"True\" or \"False\", not \"" + text + "\"");
  return text == "True" || text == "true";
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return text;
}

// "int" or "float" in either spelling (0.6.1 writes lowercase, 1.0.0 uppercase).
bool is_float_dtype(const JsonValue& dtype, const std::string& where) {
  const std::string name = lowercase(dtype.as_string(where));
  require(name == "int" || name == "float", ErrorCode::kParse,
          where + " should be \"int\" or \"float\", not \"" + dtype.as_string(where) + "\"");
  return name == "float";
}

float scale_of(const JsonValue& value, const std::string& where) {
  const auto scale = static_cast<float>(value.as_number(where));
  require(std::isfinite(scale) && scale > 0.0f, ErrorCode::kParse,
          where + " " + json_number(value.as_number(where)) + " is not a positive float32");
  return scale;
}

void require_number_if_present(const JsonValue& object, const std::string& key,
                               const std::string& where) {
  if (const JsonValue* value = object.find(key)) value->as_number(where + ": " + key);
}

FileTensor parse_legacy_tensor(const std::string& name, const JsonValue& entries,
                               const std::string& where) {
  const auto& list = entries.as_array(where);
  require(!list.empty(), ErrorCode::kParse, where + ": has no encodings");
  FileTensor f;
  f.name = name;
  f.per_channel = list.size() > 1;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string at = where + (list.size() > 1 ? " channel " + std::to_string(i) : "");
    const JsonValue& entry = list[i];
    entry.as_object(at);
    const JsonValue* dtype = entry.find("dtype");  // absent before version 0.5
    const bool is_float = dtype && is_float_dtype(*dtype, at + ": dtype");
    const int bitwidth = int32_of(required(entry, "bitwidth", at), at + ": bitwidth");
    if (i == 0) {
      f.is_float = is_float;
      f.bitwidth = bitwidth;
    }
    require(is_float == f.is_float && bitwidth == f.bitwidth, ErrorCode::kParse,
            at + ": dtype and bitwidth differ from the first channel's");
    require(!is_float || list.size() == 1, ErrorCode::kParse,
            where + ": a float tensor has more than one entry");
    if (is_float) break;
    const bool is_symmetric =
        aimet_bool(required(entry, "is_symmetric", at), at + ": is_symmetric");
    if (i == 0) f.is_symmetric = is_symmetric;
    require(is_symmetric == f.is_symmetric, ErrorCode::kParse,
            at + ": is_symmetric differs from the first channel's");
    require_number_if_present(entry, "min", at);
    require_number_if_present(entry, "max", at);
    f.channels.push_back({scale_of(required(entry, "scale", at), at + ": scale"),
                          int32_of(required(entry, "offset", at), at + ": offset")});
  }
  return f;
}

FileTensor parse_v1_tensor(const JsonValue& entry, const std::string& where) {
  entry.as_object(where);
  FileTensor f;
  f.name = required(entry, "name", where).as_string(where + ": name");
  const std::string at = where + ", tensor '" + f.name + "'";
  f.is_float = is_float_dtype(required(entry, "dtype", at), at + ": dtype");
  f.bitwidth = int32_of(required(entry, "bw", at), at + ": bw");
  if (f.is_float) return f;
  const std::string& enc_type = required(entry, "enc_type", at).as_string(at + ": enc_type");
  require(enc_type == "PER_TENSOR" || enc_type == "PER_CHANNEL", ErrorCode::kUnsupported,
          at + ": enc_type \"" + enc_type + "\" is not supported (PER_TENSOR and PER_CHANNEL are)");
  f.per_channel = enc_type == "PER_CHANNEL";
  f.is_symmetric = aimet_bool(required(entry, "is_sym", at), at + ": is_sym");
  const auto& scales = required(entry, "scale", at).as_array(at + ": scale");
  const auto& offsets = required(entry, "offset", at).as_array(at + ": offset");
  require(scales.size() == offsets.size() && !scales.empty(), ErrorCode::kParse,
          at + ": " + std::to_string(scales.size()) + " scales but " +
              std::to_string(offsets.size()) + " offsets");
  for (size_t c = 0; c < scales.size(); ++c) {
    const std::string index = "[" + std::to_string(c) + "]";
    f.channels.push_back({scale_of(scales[c], at + ": scale" + index),
                          int32_of(offsets[c], at + ": offset" + index)});
  }
  return f;
}

// The symmetry flavour an AIMET file implies: the offsets tell the symmetric grids apart.
// An unsigned-symmetric tensor whose channels all saw negative values reads back as
// symmetric (its grid is the same); only the qsim extras keep the flavour.
Symmetry infer_symmetry(const FileTensor& f, const std::string& where) {
  if (!f.is_symmetric) return Symmetry::kAsymmetric;
  // A bit width check_encoding_set will reject has no grid to infer from.
  if (f.bitwidth < kMinBitwidth || f.bitwidth > kBiasBitwidth) return Symmetry::kSymmetric;
  for (Symmetry s :
       {Symmetry::kSymmetric, Symmetry::kStrictSymmetric, Symmetry::kUnsignedSymmetric}) {
    if (std::all_of(f.channels.begin(), f.channels.end(), [&](const ChannelEncoding& c) {
          return offset_matches_symmetry(c.offset, s, f.bitwidth);
        }))
      return s;
  }
  fail(ErrorCode::kParse,
       where + ": is_symmetric is true but the offsets are not those of a symmetric " +
           std::to_string(f.bitwidth) + "-bit grid");
}

TensorRole default_role(const FileTensor& f, bool params) {
  if (!params) return TensorRole::kActivation;
  return !f.is_float && f.bitwidth == kBiasBitwidth ? TensorRole::kBias : TensorRole::kWeight;
}

// Per-channel weights and biases follow their output channels (axis 0 for Conv and Gemm);
// per-channel activations their NCHW channel axis. A guess, marked axis_implied: loading into
// a model takes a parameter's axis from the layer reading it.
int default_axis(TensorRole role) {
  return role == TensorRole::kWeight || role == TensorRole::kBias ? 0 : 1;
}

TensorEncoding to_tensor(const FileTensor& f, bool params, const TensorExtras& extras,
                         const std::string& where) {
  TensorEncoding t;
  t.name = f.name;
  t.role = extras.role.value_or(default_role(f, params));
  if (f.is_float) {
    t.float_bitwidth = f.bitwidth;
    return t;
  }
  Encoding e;
  e.bitwidth = f.bitwidth;
  e.channels = f.channels;
  e.symmetry = extras.symmetry ? *extras.symmetry : infer_symmetry(f, where);
  require(
      e.is_symmetric() == f.is_symmetric, ErrorCode::kParse,
      where + ": is_symmetric contradicts the qsim symmetry \"" + symmetry_name(e.symmetry) + "\"");
  e.axis = extras.axis.value_or(f.per_channel ? default_axis(t.role) : -1);
  t.axis_implied = f.per_channel && !extras.axis;
  t.encoding = std::move(e);
  return t;
}

template <typename Enum, size_t N>
Enum enum_by_name(const JsonValue& value, const Enum (&values)[N], const char* (*name_of)(Enum),
                  const std::string& where) {
  const std::string& text = value.as_string(where);
  for (Enum candidate : values)
    if (text == name_of(candidate)) return candidate;
  fail(ErrorCode::kParse, where + ": unknown value \"" + text + "\"");
}

constexpr TensorRole kRoles[] = {TensorRole::kModelInput, TensorRole::kActivation,
                                 TensorRole::kWeight, TensorRole::kBias};
constexpr Symmetry kSymmetries[] = {Symmetry::kAsymmetric, Symmetry::kSymmetric,
                                    Symmetry::kStrictSymmetric, Symmetry::kUnsignedSymmetric};

std::map<std::string, TensorExtras> parse_tensor_extras(const JsonValue* tensors,
                                                        const std::string& where) {
  std::map<std::string, TensorExtras> out;
  if (!tensors) return out;
  for (const auto& [name, value] : tensors->as_object(where)) {
    const std::string at = where + " '" + name + "'";
    value.as_object(at);
    TensorExtras& extras = out[name];
    if (const JsonValue* role = value.find("role"))
      extras.role = enum_by_name(*role, kRoles, tensor_role_name, at + ": role");
    if (const JsonValue* symmetry = value.find("symmetry"))
      extras.symmetry = enum_by_name(*symmetry, kSymmetries, symmetry_name, at + ": symmetry");
    if (const JsonValue* axis = value.find("axis")) extras.axis = int32_of(*axis, at + ": axis");
  }
  return out;
}

AppliedTechnique parse_technique(const JsonValue& value, const std::string& where) {
  value.as_object(where);
  AppliedTechnique technique;
  technique.name = required(value, "name", where).as_string(where + ": name");
  if (const JsonValue* options = value.find("options"))
    for (const auto& [key, option] : options->as_object(where + ": options"))
      technique.options[key] = option.as_string(where + ": options." + key);
  return technique;
}

Target parse_target(const JsonValue& value, const std::string& where) {
  const std::string name = value.as_string(where);
  try {
    return target_from_name(name);
  } catch (const Error& e) {
    fail(ErrorCode::kParse, where + ": " + e.what());
  }
}

QsimExtras parse_qsim_extras(const JsonValue* qsim, const std::string& source) {
  QsimExtras extras;
  if (!qsim) return extras;
  const std::string where = source + ": qsim";
  qsim->as_object(where);
  if (const JsonValue* fingerprint = qsim->find("model_fingerprint"))
    extras.model_fingerprint = fingerprint->as_string(where + ".model_fingerprint");
  if (const JsonValue* target = qsim->find("target"))
    extras.target = parse_target(*target, where + ".target");
  if (const JsonValue* symmetric = qsim->find("activation_symmetric"))
    extras.activation_symmetric = symmetric->as_bool(where + ".activation_symmetric");
  if (const JsonValue* techniques = qsim->find("techniques")) {
    const auto& list = techniques->as_array(where + ".techniques");
    for (size_t i = 0; i < list.size(); ++i)
      extras.techniques.push_back(
          parse_technique(list[i], where + ".techniques[" + std::to_string(i) + "]"));
  }
  extras.activation_tensors =
      parse_tensor_extras(qsim->find("activation_tensors"), where + ".activation_tensors");
  extras.param_tensors = parse_tensor_extras(qsim->find("param_tensors"), where + ".param_tensors");
  return extras;
}

QuantizerArgs parse_quantizer_args(const JsonValue* value, const std::string& source) {
  QuantizerArgs args;
  if (!value) return args;
  const std::string where = source + ": quantizer_args";
  value->as_object(where);
  if (const JsonValue* v = value->find("activation_bitwidth"))
    args.activation_bitwidth = int32_of(*v, where + ".activation_bitwidth");
  if (const JsonValue* v = value->find("param_bitwidth"))
    args.param_bitwidth = int32_of(*v, where + ".param_bitwidth");
  if (const JsonValue* v = value->find("is_symmetric"))
    args.param_symmetric = aimet_bool(*v, where + ".is_symmetric");
  if (const JsonValue* v = value->find("per_channel_quantization"))
    args.per_channel = aimet_bool(*v, where + ".per_channel_quantization");
  if (const JsonValue* v = value->find("quant_scheme"))
    args.quant_scheme = v->as_string(where + ".quant_scheme");
  return args;
}

std::vector<std::string> parse_excluded_layers(const JsonValue* value, const std::string& source) {
  std::vector<std::string> layers;
  if (!value) return layers;
  const std::string where = source + ": excluded_layers";
  for (const JsonValue& layer : value->as_array(where))
    layers.push_back(layer.as_string(where + " entry"));
  return layers;
}

// Version 1.0.0 lists tensors; every earlier version (absent means 0.4) keys them by name.
bool is_list_layout(const JsonValue& doc, const std::string& source) {
  const JsonValue* version = doc.find("version");
  if (!version) return false;
  const std::string& text = version->as_string(source + ": version");
  if (text == "1.0.0") return true;
  require(text.rfind("0.", 0) == 0, ErrorCode::kUnsupported,
          source + ": encodings version \"" + text + "\" is not supported (0.x and 1.0.0 are)");
  return false;
}

std::vector<FileTensor> parse_section(const JsonValue* section, bool list_layout,
                                      const std::string& where) {
  std::vector<FileTensor> tensors;
  if (!section) return tensors;
  if (list_layout) {
    const auto& list = section->as_array(where);
    for (size_t i = 0; i < list.size(); ++i)
      tensors.push_back(parse_v1_tensor(list[i], where + "[" + std::to_string(i) + "]"));
  } else {
    for (const auto& [name, entries] : section->as_object(where))
      tensors.push_back(parse_legacy_tensor(name, entries, where + ": tensor '" + name + "'"));
  }
  return tensors;
}

std::vector<TensorEncoding> read_section(const JsonValue& doc, const char* key, bool list_layout,
                                         const std::map<std::string, TensorExtras>& extras,
                                         const std::string& source) {
  const bool params = std::string(key) == "param_encodings";
  std::vector<TensorEncoding> out;
  for (const FileTensor& f : parse_section(doc.find(key), list_layout, source + ": " + key)) {
    const auto found = extras.find(f.name);
    out.push_back(to_tensor(f, params, found == extras.end() ? TensorExtras{} : found->second,
                            source + ": tensor '" + f.name + "'"));
  }
  return out;
}

EncodingSet encodings_from_document(const JsonValue& doc, const std::string& source) {
  doc.as_object(source);
  const bool list_layout = is_list_layout(doc, source);
  QsimExtras extras = parse_qsim_extras(doc.find("qsim"), source);
  EncodingSet set;
  set.activations =
      read_section(doc, "activation_encodings", list_layout, extras.activation_tensors, source);
  set.params = read_section(doc, "param_encodings", list_layout, extras.param_tensors, source);
  set.excluded_layers = parse_excluded_layers(doc.find("excluded_layers"), source);
  set.quantizer_args = parse_quantizer_args(doc.find("quantizer_args"), source);
  set.quantizer_args.activation_symmetric =
      extras.activation_symmetric.value_or(set.quantizer_args.activation_symmetric);
  set.techniques = std::move(extras.techniques);
  set.model_fingerprint = std::move(extras.model_fingerprint);
  set.target = extras.target;
  check_encoding_set(set, ErrorCode::kParse, source);
  return set;
}

}  // namespace

std::string encodings_json_text(const EncodingSet& set, AimetJsonVersion version) {
  check_encoding_set(set, ErrorCode::kInvalidArgument, "encodings");
  std::vector<std::string> excluded;
  for (const std::string& layer : set.excluded_layers) excluded.push_back(json_quote(layer));
  return block('{',
               {member("version", version == AimetJsonVersion::k0_6_1 ? "\"0.6.1\"" : "\"1.0.0\""),
                member("activation_encodings", section(set.activations, version)),
                member("param_encodings", section(set.params, version)),
                member("excluded_layers", block('[', excluded, 2, ']')),
                member("quantizer_args", quantizer_args_text(set.quantizer_args)),
                member("qsim", qsim_extras(set))},
               0, '}') +
         "\n";
}

void write_encodings_json(const EncodingSet& set, AimetJsonVersion version,
                          const std::string& path) {
  write_file_atomically(path, encodings_json_text(set, version));
}

EncodingSet parse_encodings_json(const std::string& text, const std::string& source) {
  return encodings_from_document(parse_json(text, source), source);
}

EncodingSet read_encodings_json(const std::string& path) {
  return encodings_from_document(read_json_file(path), path);
}

}  // namespace qsim
