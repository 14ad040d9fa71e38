// write_files_all_or_nothing: every file or none, and no temporary or created folder left.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "io/output_files.h"
#include "util/error.h"

namespace fs = std::filesystem;
using namespace qsim;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "qsim_output_files_XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() { fs::remove_all(path); }
};

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

ErrorCode code_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("no error thrown");
  return ErrorCode::kInternal;
}

const std::vector<OutputFile> kThree = {{"a.json", "{\"a\": 1}"},
                                        {"b.bin", std::string("\0\1\2", 3)},
                                        {"c.onnx", std::string(100000, 'x')}};

}  // namespace

TEST_CASE("output files: all written, in folders made on the way, nothing else left") {
  TempDir tmp;
  const fs::path out = tmp.path / "x" / "y";
  write_files_all_or_nothing(out.string(), kThree);
  CHECK(entries(out) == std::vector<std::string>{"a.json", "b.bin", "c.onnx"});
  for (const OutputFile& f : kThree) CHECK(read_text(out / f.name) == f.contents);
  CHECK((fs::status(out / "a.json").permissions() & fs::perms::others_read) != fs::perms::none);
  // Replacing an earlier set.
  write_files_all_or_nothing(out.string(), {{"a.json", "new"}});
  CHECK(read_text(out / "a.json") == "new");
  CHECK(entries(out).size() == 3);
}

TEST_CASE("output files: a rename that fails takes back the files renamed before it") {
  TempDir tmp;
  fs::create_directory(tmp.path / "c.onnx");  // a folder holds the last file's name
  try {
    write_files_all_or_nothing(tmp.path.string(), kThree);
    FAIL("no error thrown");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kIo);
    CHECK_THAT(e.what(), Catch::Contains("c.onnx"));
  }
  CHECK(entries(tmp.path) == std::vector<std::string>{"c.onnx"});
}

TEST_CASE("output files: a file that cannot be staged removes the staged ones and new folders") {
  TempDir tmp;
  const std::string too_long(300, 'n');
  const std::vector<OutputFile> files = {{"a.json", "1"}, {"b.json", "2"}, {too_long, "3"}};
  try {
    write_files_all_or_nothing((tmp.path / "new" / "deeper").string(), files);
    FAIL("no error thrown");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kIo);
    CHECK_THAT(e.what(), Catch::Contains(too_long));
  }
  CHECK(entries(tmp.path).empty());
}

TEST_CASE("output files: a folder that cannot be made, and bad names") {
  TempDir tmp;
  std::ofstream(tmp.path / "plain").put('x');
  CHECK(code_of([&] {
          write_files_all_or_nothing((tmp.path / "plain" / "sub").string(), kThree);
        }) == ErrorCode::kIo);
  CHECK(code_of([&] { write_files_all_or_nothing((tmp.path / "plain").string(), kThree); }) ==
        ErrorCode::kIo);
  for (const char* bad : {"", ".", "..", "a/b"})
    CHECK(code_of([&] {
            write_files_all_or_nothing((tmp.path / "n").string(), {{bad, "x"}});
          }) == ErrorCode::kInvalidArgument);
  CHECK(code_of([&] {
          write_files_all_or_nothing((tmp.path / "n").string(), {{"a", "1"}, {"a", "2"}});
        }) == ErrorCode::kInvalidArgument);
  CHECK(entries(tmp.path) == std::vector<std::string>{"plain"});
}
