// The one table of op facts (graph/op_info.h) against the kernels and the passes that read it.
#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "graph/op_info.h"
#include "runtime/registry.h"

namespace qsim {
namespace {

bool has_slot(const OpInfo& info, int input, const char* name) {
  for (const ParamSlot& slot : info.params)
    if (slot.input == input && slot.name != nullptr && std::strcmp(slot.name, name) == 0)
      return true;
  return false;
}

Node node_of(const char* op_type, const char* domain = "") {
  Node node;
  node.op_type = op_type;
  node.domain = domain;
  return node;
}

}  // namespace

TEST_CASE("op table: every registered kernel has a row", "[op_info]") {
  for (const auto& [domain, op_type] : default_registry().keys()) {
    INFO("kernel " << (domain.empty() ? "" : domain + ".") << op_type);
    CHECK(find_op_info(domain, op_type) != nullptr);
  }
}

TEST_CASE("op table: rows are unique and consistent", "[op_info]") {
  const auto table = op_table();
  REQUIRE(!table.empty());
  for (size_t i = 0; i < table.size(); ++i) {
    const OpInfo& row = table[i];
    INFO("row " << row.domain << " " << row.op_type);
    CHECK(find_op_info(row.domain, row.op_type) == &row);
    if (i > 0) {
      const OpInfo& before = table[i - 1];
      CHECK(!(std::string(before.domain) == row.domain &&
              std::string(before.op_type) == row.op_type));
    }
    // A layer has a weight; its bias (when int32) is input 2; a channel axis needs a weight.
    if (row.linear_layer) CHECK(weight_input(row) == 1);
    if (row.int32_bias) {
      CHECK(row.linear_layer);
      CHECK(has_slot(row, 2, "bias"));
    }
    if (row.channel_axis != ChannelAxis::kNone) CHECK(weight_input(row) >= 0);
    if (row.ort_u8s8 != OrtU8S8::kNo) CHECK(row.linear_layer);
  }
}

TEST_CASE("op table: lookups by node and domain", "[op_info]") {
  CHECK(find_op_info(node_of("Conv")) != nullptr);
  CHECK(find_op_info(node_of("Conv", "com.example")) == nullptr);
  CHECK(find_op_info(node_of("FusedConv", kQsimDomain)) != nullptr);
  CHECK(find_op_info(node_of("FusedConv")) == nullptr);
  CHECK(find_op_info(node_of("NoSuchOp")) == nullptr);
  CHECK(is_linear_layer(node_of("MatMul")));
  CHECK(!has_int32_bias(node_of("MatMul")));
  CHECK(has_int32_bias(node_of("ConvTranspose")));
  CHECK(!is_per_image(node_of("Slice")));
  CHECK(is_per_image(node_of("FusedConv", kQsimDomain)));
  CHECK(!is_linear_layer(node_of("NoSuchOp")));
}

TEST_CASE("op table: weight channel axes", "[op_info]") {
  CHECK(weight_channel_axis(node_of("Conv"), 4) == 0);
  CHECK(weight_channel_axis(node_of("ConvTranspose"), 4) == 1);
  Node gemm = node_of("Gemm");
  CHECK(weight_channel_axis(gemm, 2) == 1);
  gemm.attributes["transB"] = Attribute::of_int(1);
  CHECK(weight_channel_axis(gemm, 2) == 0);
  CHECK(weight_channel_axis(node_of("MatMul"), 2) == 1);
  CHECK(weight_channel_axis(node_of("MatMul"), 3) == 2);
  CHECK(weight_channel_axis(node_of("MatMul"), 1) == -1);
  CHECK(weight_channel_axis(node_of("PRelu"), 1) == -1);
  CHECK(weight_channel_axis(node_of("BatchNormalization"), 1) == 0);
  CHECK(weight_channel_axis(node_of("LayerNormalization"), 2) == -1);
  CHECK(weight_channel_axis(node_of("Relu"), 2) == -1);
}

}  // namespace qsim
