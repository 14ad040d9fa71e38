// The encoding getters: the session's EncodingSet as a flat list, activations then params.
#include "capi/guard.h"
#include "capi/options.h"
#include "capi/session.h"

using namespace qsim;
using qsim::capi::guard;
using qsim::capi::require_arg;

namespace {

const TensorEncoding& encoding_at(const qsim_session& s, size_t index, const char* function) {
  const EncodingSet& set = s.listed_encodings(function);
  const size_t count = set.activations.size() + set.params.size();
  require(index < count, ErrorCode::kInvalidArgument,
          std::string(function) + ": index " + std::to_string(index) + " is out of range (" +
              std::to_string(count) + " encodings)");
  return index < set.activations.size() ? set.activations[index]
                                        : set.params[index - set.activations.size()];
}

qsim_tensor_role role_to_c(TensorRole role) {
  switch (role) {
    case TensorRole::kModelInput:
      return QSIM_ROLE_MODEL_INPUT;
    case TensorRole::kActivation:
      return QSIM_ROLE_ACTIVATION;
    case TensorRole::kWeight:
      return QSIM_ROLE_WEIGHT;
    case TensorRole::kBias:
      return QSIM_ROLE_BIAS;
  }
  fail(ErrorCode::kInternal, "unknown tensor role");
}

qsim_symmetry symmetry_to_c(Symmetry symmetry) {
  switch (symmetry) {
    case Symmetry::kAsymmetric:
      return QSIM_ASYMMETRIC;
    case Symmetry::kSymmetric:
      return QSIM_SYMMETRIC;
    case Symmetry::kStrictSymmetric:
      return QSIM_STRICT_SYMMETRIC;
    case Symmetry::kUnsignedSymmetric:
      return QSIM_UNSIGNED_SYMMETRIC;
  }
  fail(ErrorCode::kInternal, "unknown symmetry");
}

int64_t excluded_values(const qsim_session& s, const std::string& tensor) {
  const auto& counts = s.quantsim->calibration_report().nan_inf_counts;
  auto it = counts.find(tensor);
  return it == counts.end() ? 0 : it->second;
}

qsim_encoding_info info_of(const qsim_session& s, const TensorEncoding& t) {
  qsim_encoding_info info{};
  info.name = s.lasting_name(t.name);
  info.role = role_to_c(t.role);
  info.quantized = t.encoding.has_value() ? 1 : 0;
  info.bitwidth = t.encoding ? t.encoding->bitwidth : t.float_bitwidth;
  info.symmetry = t.encoding ? symmetry_to_c(t.encoding->symmetry) : QSIM_ASYMMETRIC;
  info.axis = t.encoding ? t.encoding->axis : -1;
  info.num_channels = t.encoding ? t.encoding->channels.size() : 0;
  info.excluded_values = excluded_values(s, t.name);
  return info;
}

}  // namespace

extern "C" {

qsim_status qsim_encoding_count(const qsim_session* session, size_t* out_count) {
  return capi::guard_session(session, "qsim_encoding_count", capi::SessionAccess::kRead, [&] {
    require_arg(out_count, "qsim_encoding_count", "out_count");
    *out_count = 0;
    if (!session->has_encodings) return;
    const EncodingSet& set = session->listed_encodings("qsim_encoding_count");
    *out_count = set.activations.size() + set.params.size();
  });
}

qsim_status qsim_get_encoding(const qsim_session* session, size_t index,
                              qsim_encoding_info* out_info) {
  return capi::guard_session(session, "qsim_get_encoding", capi::SessionAccess::kRead, [&] {
    require_arg(out_info, "qsim_get_encoding", "out_info");
    const uint32_t struct_size = out_info->struct_size;
    const TensorEncoding& t = encoding_at(*session, index, "qsim_get_encoding");
    capi::write_versioned(out_info, struct_size, info_of(*session, t), "qsim_get_encoding");
  });
}

qsim_status qsim_get_encoding_channels(const qsim_session* session, size_t index, float* scales,
                                       int32_t* offsets, size_t capacity) {
  return capi::guard_session(session, "qsim_get_encoding_channels", capi::SessionAccess::kRead, [&] {
    require_arg(scales, "qsim_get_encoding_channels", "scales");
    require_arg(offsets, "qsim_get_encoding_channels", "offsets");
    const TensorEncoding& t = encoding_at(*session, index, "qsim_get_encoding_channels");
    if (!t.encoding) return;
    const auto& channels = t.encoding->channels;
    require(capacity >= channels.size(), ErrorCode::kBufferTooSmall,
            "qsim_get_encoding_channels: '" + t.name + "' has " + std::to_string(channels.size()) +
                " channels, the buffers hold " + std::to_string(capacity));
    for (size_t c = 0; c < channels.size(); ++c) {
      scales[c] = channels[c].scale;
      offsets[c] = channels[c].offset;
    }
  });
}

}  // extern "C"
