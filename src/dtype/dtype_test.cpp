// The type table against the codec that implements it: names and ggml ids map both ways, and
// every block type's encoder writes exactly block_bytes per block_values.
#include "dtype/dtype.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "dtype/codec.hpp"

namespace llama2 {
namespace {

TEST(DType, NamesAndGgmlIdsMapBothWays) {
  std::set<std::string> names;
  for (const DTypeInfo& t : all_dtypes()) {
    EXPECT_EQ(&dtype_info(t.type), &t);
    EXPECT_EQ(dtype_from_name(t.name), t.type);
    EXPECT_TRUE(names.insert(t.name).second) << t.name;
    if (t.ggml_id) {
      EXPECT_EQ(dtype_from_ggml_id(*t.ggml_id), t.type) << t.name;
    }
  }
  EXPECT_EQ(dtype_from_name("q3_k"), std::nullopt);
  EXPECT_EQ(dtype_from_ggml_id(10), std::nullopt);  // ggml's Q2_K: not read by this engine
  EXPECT_EQ(dtype_info(DType::Q8_GROUPED).ggml_id, std::nullopt);
  EXPECT_FALSE(dtype_info(DType::Q8_GROUPED).writable);
}

TEST(DType, EveryRowTypeEncodesBlockBytesPerBlock) {
  for (const DTypeInfo& t : all_dtypes()) {
    if (!quant::can_quantize_row(t.type)) continue;
    const std::int64_t n = 2 * t.block_values;
    EXPECT_EQ(quant::row_bytes(t.type, n), static_cast<std::uint64_t>(2 * t.block_bytes)) << t.name;
    std::vector<float> x(n), y(n);
    for (std::int64_t i = 0; i < n; ++i) x[i] = static_cast<float>((i * 37) % 19) / 7.0f - 1.3f;
    std::vector<std::uint8_t> row(quant::row_bytes(t.type, n));
    quant::quantize_row(t.type, x.data(), row.data(), n);
    quant::dequantize_row(t.type, row.data(), y.data(), n);
    for (std::int64_t i = 0; i < n; ++i) EXPECT_NEAR(y[i], x[i], 0.2f) << t.name << " value " << i;
  }
}

}  // namespace
}  // namespace llama2
