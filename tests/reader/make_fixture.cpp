// Writes the C reader's test fixture with qsim's C++ writer: DIR/fixture.qsenc (the synthetic
// encoding set of tests/core/test_formats_synthetic.h) and DIR/fixture_expected.txt, the same
// values as text (names in hex, floats in C99 hex notation, so nothing is lost) for
// tests/reader/test_reader.c to compare against what the C reader reads.
//
// Usage: qsim_encodings_fixture DIR
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/test_formats_synthetic.h"
#include "io/encodings_fbs.h"

namespace {

const char* const kProducer = "qsim fixture 1.2.3";

std::string hex(const std::string& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out.empty() ? "-" : out;
}

std::string hex_float(float value) {
  char text[48];
  std::snprintf(text, sizeof text, "%a", static_cast<double>(value));
  return text;
}

// One "tensor" line, then one "channel" line per channel, as the C reader reports them
// (float tensors carry the schema's default symmetry and axis).
void write_tensor(std::ofstream& out, const qsim::TensorEncoding& t) {
  const qsim::Encoding* e = t.encoding ? &*t.encoding : nullptr;
  out << "tensor " << hex(t.name) << ' ' << static_cast<int>(t.role) << ' ' << (e ? 0 : 1) << ' '
      << (e ? e->bitwidth : t.float_bitwidth) << ' '
      << static_cast<int>(e ? e->symmetry : qsim::Symmetry::kSymmetric) << ' ' << (e ? e->axis : -1)
      << ' ' << (e ? e->channels.size() : 0) << '\n';
  if (!e) return;
  for (const qsim::ChannelEncoding& c : e->channels)
    out << "channel " << hex_float(c.scale) << ' ' << c.offset << ' ' << hex_float(c.min()) << ' '
        << hex_float(c.max(e->bitwidth)) << '\n';
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    const qsim::EncodingSet set = qsim::test::synthetic_encoding_set();
    qsim::write_encodings_fbs(set, (dir / "fixture.qsenc").string(), kProducer);
    std::ofstream out(dir / "fixture_expected.txt");
    out << "producer " << hex(kProducer) << "\nfingerprint " << hex(set.model_fingerprint)
        << "\ntarget " << static_cast<int>(set.target) << "\ntensors "
        << set.activations.size() + set.params.size() << '\n';
    for (const auto* list : {&set.activations, &set.params})
      for (const qsim::TensorEncoding& t : *list) write_tensor(out, t);
    return out.good() ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qsim_encodings_fixture: %s\n", e.what());
    return 1;
  }
}
