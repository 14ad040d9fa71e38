// The C reader's verifier against the C++ reader (FlatBuffers' own generated verifier plus
// qsim's rules) on every truncation and on every byte damaged three ways: both must accept
// the same buffers, and read the same values from those they accept. The only difference
// allowed: the C reader does not look for duplicate names.
//
// Usage: qsim_reader_differential
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/test_formats_synthetic.h"
#include "io/encodings_fbs.h"
#include "qsim_encodings_reader.h"

namespace {

struct Tally {
  size_t buffers = 0, rejected = 0, duplicates = 0, disagreements = 0;
};

// What the C reader reads, in the C++ reader's shape (listed by role, in file order).
qsim::EncodingSet read_with_c(const qsim_enc_file& file) {
  qsim::EncodingSet set;
  for (uint32_t i = 0; i < qsim_enc_tensor_count(&file); ++i) {
    qsim_enc_tensor t;
    qsim_enc_get_tensor(&file, i, &t);
    qsim::TensorEncoding out;
    out.name.assign(t.name, t.name_length);
    out.role = static_cast<qsim::TensorRole>(t.role);
    if (t.dtype == QSIM_ENC_DTYPE_FLOAT) {
      out.float_bitwidth = t.bitwidth;
    } else {
      qsim::Encoding e;
      e.bitwidth = t.bitwidth;
      e.symmetry = static_cast<qsim::Symmetry>(t.symmetry);
      e.axis = t.axis;
      for (uint32_t c = 0; c < t.channel_count; ++c) {
        qsim_enc_channel ch;
        qsim_enc_get_channel(&t, c, &ch);
        e.channels.push_back({ch.scale, ch.offset});
      }
      out.encoding = e;
    }
    const bool param = out.role == qsim::TensorRole::kWeight || out.role == qsim::TensorRole::kBias;
    (param ? set.params : set.activations).push_back(std::move(out));
  }
  set.model_fingerprint = qsim_enc_model_fingerprint(&file);
  set.target = static_cast<qsim::Target>(qsim_enc_get_target(&file));
  return set;
}

// The C reader hands out the fingerprint as a C string, so compare up to its first NUL.
bool same_tensors(const qsim::EncodingSet& c_set, const qsim::EncodingSet& cpp_set) {
  return c_set.activations == cpp_set.activations && c_set.params == cpp_set.params &&
         c_set.model_fingerprint == cpp_set.model_fingerprint.c_str() &&
         c_set.target == cpp_set.target;
}

void compare(const std::string& bytes, const std::string& what, Tally& tally) {
  ++tally.buffers;
  // Exactly-sized copies, so that ASan sees any read past the end.
  std::vector<uint8_t> for_c(bytes.begin(), bytes.end());
  qsim_enc_file file;
  const bool c_ok = qsim_enc_open(&file, for_c.data(), for_c.size()) == QSIM_ENC_OK;
  std::string cpp_error;
  qsim::EncodingSet cpp_set;
  try {
    cpp_set = qsim::parse_encodings_fbs(bytes.data(), bytes.size(), "damaged.qsenc");
  } catch (const qsim::Error& e) {
    cpp_error = e.what();
    if (e.code() != qsim::ErrorCode::kParse ||
        cpp_error.find("damaged.qsenc") == std::string::npos) {
      std::printf("%s: the C++ reader threw a non-parse error or without the file name: %s\n",
                  what.c_str(), e.what());
      ++tally.disagreements;
    }
  }
  const bool cpp_ok = cpp_error.empty();
  if (!cpp_ok) ++tally.rejected;
  if (c_ok && !cpp_ok && cpp_error.find("listed twice") != std::string::npos) {
    ++tally.duplicates;
    return;
  }
  if (c_ok != cpp_ok || (c_ok && !same_tensors(read_with_c(file), cpp_set))) {
    std::printf("%s: C reader %s, C++ reader %s (%s)\n", what.c_str(), c_ok ? "accepts" : "rejects",
                cpp_ok ? "accepts" : "rejects", cpp_error.c_str());
    ++tally.disagreements;
  }
}

// Truncates at, and damages, every `stride`-th byte.
Tally run(const std::string& name, const std::string& bytes, size_t stride) {
  Tally tally;
  for (size_t length = 0; length < bytes.size(); length += stride)
    compare(bytes.substr(0, length), name + " cut to " + std::to_string(length), tally);
  for (size_t position = 0; position < bytes.size(); position += stride)
    for (uint8_t mask : {0xff, 0x01, 0x80}) {
      std::string damaged = bytes;
      damaged[position] = static_cast<char>(damaged[position] ^ mask);
      compare(damaged, name + " byte " + std::to_string(position) + " ^ " + std::to_string(mask),
              tally);
    }
  std::printf(
      "%s (%zu bytes): %zu damaged or truncated buffers, %zu rejected by the C++ reader, %zu "
      "duplicate names, "
      "%zu disagreements\n",
      name.c_str(), bytes.size(), tally.buffers, tally.rejected, tally.duplicates,
      tally.disagreements);
  return tally;
}

}  // namespace

int main() {
  try {
    const qsim::EncodingSet synthetic = qsim::test::synthetic_encoding_set();
    const qsim::EncodingSet model = qsim::test::reference_model_encoding_set(
        std::string(QSIM_SOURCE_DIR) + "/models/resnet_fmnist.onnx");
    // The model's file is mostly scale arrays: every 5th byte covers its structure well enough.
    const size_t disagreements =
        run("synthetic", qsim::encodings_fbs_bytes(synthetic, "differential"), 1).disagreements +
        run("resnet", qsim::encodings_fbs_bytes(model, "differential"), 5).disagreements;
    return disagreements == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::printf("qsim_reader_differential: %s\n", e.what());
    return 1;
  }
}
