#include "marked_section.h"

#include <filesystem>

#include "util/read_file.h"

namespace qsim::tools {

std::string read_page(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec) ? read_file_bytes(path) : std::string();
}

std::string section_of(const std::string& page, const SectionMarkers& markers) {
  const size_t begin = page.find(markers.begin);
  const size_t end = page.find(markers.end);
  if (begin == std::string::npos || end == std::string::npos || end < begin) return "";
  const size_t line_end = page.find('\n', end);
  return page.substr(begin,
                     line_end == std::string::npos ? std::string::npos : line_end + 1 - begin);
}

std::string with_section(const std::string& page, const SectionMarkers& markers,
                         const std::string& section) {
  const std::string old = section_of(page, markers);
  if (old.empty()) {
    if (page.empty()) return section;
    return page + (page.back() == '\n' ? "\n" : "\n\n") + section;
  }
  std::string result = page;
  result.replace(page.find(markers.begin), old.size(), section);
  return result;
}

}  // namespace qsim::tools
