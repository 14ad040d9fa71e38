// Markdown pages that several table tools write into (docs/ACCURACY.md): each tool owns the
// text between its two marker lines and keeps the rest of the page as it was.
#pragma once

#include <string>

namespace qsim::tools {

struct SectionMarkers {
  const char* begin;  // the section's first line
  const char* end;    // its last line
};

// The sections of docs/ACCURACY.md written by tools other than qsim_accuracy_table's top-1 run.
inline constexpr SectionMarkers kTransformerSection = {"<!-- qsim_transformer_table begin -->",
                                                       "<!-- qsim_transformer_table end -->"};
inline constexpr SectionMarkers kSegmentationSection = {
    "<!-- segmentation: made by qsim_accuracy_table --metric iou -->", "<!-- /segmentation -->"};

// The page at `path`, or "" when there is none yet (kIo when it exists and cannot be read).
std::string read_page(const std::string& path);

// The section of `page` from its begin marker through the end marker's line, or "".
std::string section_of(const std::string& page, const SectionMarkers& markers);

// `page` with its section replaced by `section`, or with `section` appended after a blank line
// when the page has none.
std::string with_section(const std::string& page, const SectionMarkers& markers,
                         const std::string& section);

}  // namespace qsim::tools
