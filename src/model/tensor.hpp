// A weight tensor: a typed view into memory the Model owns (normally the file mapping).
#pragma once
#include <cstddef>
#include <cstdint>

#include "dtype/dtype.hpp"

namespace llama2 {

// A row-major [rows, cols] matrix (a vector has rows == 1).
struct Tensor {
  DType type = DType::F32;
  const void* data = nullptr;      // row r starts at data + r * row_bytes()
  const float* scales = nullptr;   // Q8_GROUPED only: one per group of group_size values
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  int group_size = 0;              // Q8_GROUPED only; always divides cols

  std::int64_t size() const { return rows * cols; }
  const float* f32() const { return static_cast<const float*>(data); }
  const std::int8_t* i8() const { return static_cast<const std::int8_t*>(data); }
  const std::byte* row_data(std::int64_t r) const { return static_cast<const std::byte*>(data) + r * row_bytes(); }
  std::int64_t row_bytes() const { return cols / dtype_block_values(type) * dtype_block_bytes(type); }
  // Bytes this tensor's weights occupy (what one pass over it reads), scales included.
  std::uint64_t bytes() const;
};

// Writes row `r` of `t` as fp32 into out[cols] (token embedding lookup; the plain
// dequantization that quantized kernels are tested against).
void dequantize_row(const Tensor& t, std::int64_t r, float* out);

}  // namespace llama2
