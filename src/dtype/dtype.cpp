#include "dtype/dtype.hpp"

namespace llama2 {

namespace {

// The one table. Enum order, so dtype_info indexes it.
constexpr DTypeInfo kTypes[] = {
    {DType::F32, "f32", 1, 4, 0, true},
    {DType::F16, "f16", 1, 2, 1, true},
    {DType::BF16, "bf16", 1, 2, 30, true},
    {DType::Q8_0, "q8_0", 32, 34, 8, true},
    {DType::Q4_0, "q4_0", 32, 18, 2, true},
    {DType::Q4_1, "q4_1", 32, 20, 3, true},
    {DType::Q4_K, "q4_k", 256, 144, 12, true},
    {DType::Q5_K, "q5_k", 256, 176, 13, true},
    {DType::Q6_K, "q6_k", 256, 210, 14, true},
    {DType::Q8_GROUPED, "q8_grouped", 1, 1, std::nullopt, false},
};

constexpr bool in_enum_order() {
  for (std::size_t i = 0; i < std::size(kTypes); ++i)
    if (static_cast<std::size_t>(kTypes[i].type) != i) return false;
  return true;
}
static_assert(in_enum_order(), "kTypes must list the DTypes in enum order");
static_assert(std::size(kTypes) == static_cast<std::size_t>(DType::Q8_GROUPED) + 1, "a DType is missing");

}  // namespace

std::span<const DTypeInfo> all_dtypes() { return kTypes; }

const DTypeInfo& dtype_info(DType t) { return kTypes[static_cast<std::size_t>(t)]; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const DTypeInfo& info : kTypes)
    if (name == info.name) return info.type;
  return std::nullopt;
}

std::optional<DType> dtype_from_ggml_id(std::uint32_t ggml_id) {
  for (const DTypeInfo& info : kTypes)
    if (info.ggml_id == ggml_id) return info.type;
  return std::nullopt;
}

}  // namespace llama2
