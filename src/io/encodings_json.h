// AIMET-compatible JSON encodings files (docs/SOURCES.md section 3, docs/ENCODINGS.md), the
// format QNN/SNPE converters take with --quantization_overrides.
//
// Version 0.6.1 keys each section by tensor name (one dict per channel); version 1.0.0 lists
// {name, dtype, enc_type, bw, is_sym, scale[], offset[]}. What AIMET's formats cannot say
// (role, symmetry flavour, per-channel axis, techniques, model fingerprint) goes under an extra
// top-level "qsim" key, which AIMET's and QNN's readers ignore. Without it the reader infers:
// role from the section (params of 32 bits are biases), symmetry from is_symmetric and the
// offsets, the axis from the role (0 for weights and biases, 1 for activations).
#pragma once

#include <string>

#include "quant/encoding_set.h"

namespace qsim {

enum class AimetJsonVersion { k0_6_1, k1_0_0 };

// Throws kInvalidArgument naming the tensor for a set that breaks check_encoding_set's rules;
// writes atomically, kIo naming `path` on failure.
void write_encodings_json(const EncodingSet& set, AimetJsonVersion version,
                          const std::string& path);
std::string encodings_json_text(const EncodingSet& set, AimetJsonVersion version);

// Detects the version from the "version" key (absent or 0.x: keyed by name; 1.0.0: lists).
// Malformed files are kParse naming the file and the tensor; other versions kUnsupported.
// Unknown keys are ignored.
EncodingSet read_encodings_json(const std::string& path);
EncodingSet parse_encodings_json(const std::string& text, const std::string& source);

}  // namespace qsim
