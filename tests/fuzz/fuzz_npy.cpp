// The .npy reader (src/io/npy.cpp): parse_npy on the bytes, and NpyRowReader (what
// `qsim quantize --calib` streams calibration files with) on the same bytes as a file.
#include <algorithm>
#include <cstdint>

#include "fuzz_file.h"
#include "io/npy.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static qsim_fuzz::MemFile file("qsim_fuzz_npy");
  try {
    qsim::parse_npy(data, size, "fuzz.npy");
  } catch (const qsim::Error&) {
  }
  file.write(data, size);
  try {
    qsim::NpyRowReader reader(file.path());
    const int64_t rows = reader.rows();
    for (int64_t first = 0; first < std::min<int64_t>(rows, 4); first += 2)
      reader.read_rows(first, std::min<int64_t>(2, rows - first));
  } catch (const qsim::Error&) {
  }
  return 0;
}
