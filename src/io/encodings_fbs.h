// qsim's FlatBuffers encodings file (schemas/qsim_encodings.fbs, docs/ENCODINGS.md): the
// format on-target runtimes load with reader/qsim_encodings_reader.c, no JSON parser needed.
// Also home of the consistency rules that every encodings writer and reader applies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "quant/encoding_set.h"
#include "util/error.h"

namespace qsim {

constexpr uint32_t kEncodingsSchemaVersion = 1;
constexpr const char* kEncodingsFileIdentifier = "QSEN";

// Throws kInvalidArgument (naming the tensor) when `set` breaks the rules below; writes
// atomically, kIo naming `path` on failure.
void write_encodings_fbs(const EncodingSet& set, const std::string& path,
                         const std::string& producer_version);
std::string encodings_fbs_bytes(const EncodingSet& set, const std::string& producer_version);

// Verifies the buffer (FlatBuffers verifier, file identifier, schema version) and the rules
// below; any failure is kParse naming `path` (or `source`). The producer version is not kept.
EncodingSet read_encodings_fbs(const std::string& path);
EncodingSet parse_encodings_fbs(const void* data, size_t size, const std::string& source);

// The rules: names are non-empty and unique across the set; activations hold model inputs and
// activations, params hold weights and biases; a quantized tensor has a bit width of 2 to 16
// (32 for biases), one channel per tensor (axis -1) or at least one per channel (axis >= 0),
// finite positive scales, and offsets in [-(2^bw - 1), 0] that match its symmetry; a float
// tensor is 16 or 32 bits wide. Violations throw `code` with "<source>: tensor '<name>': ...".
void check_encoding_set(const EncodingSet& set, ErrorCode code, const std::string& source);

// True when `offset` is a grid offset that `symmetry` can produce at `bitwidth`.
bool offset_matches_symmetry(int64_t offset, Symmetry symmetry, int bitwidth);

}  // namespace qsim
