// A weight tensor: a typed view into memory the Model owns (normally the file mapping).
#pragma once
#include <cstddef>
#include <cstdint>

namespace llama2 {

// Element types of weights. Block types store each row as cols/block_size blocks laid out
// exactly as in GGUF files (ggml's layouts), so GGUF tensors are used in place.
enum class DType : std::uint8_t {
  F32,         // float
  F16,         // IEEE half
  BF16,        // bfloat16
  Q8_0,        // blocks of 32: f16 scale d, 32 x int8 q;               x = d*q          (34 bytes)
  Q4_0,        // blocks of 32: f16 d, 16 bytes of nibbles;             x = d*(q-8)      (18 bytes)
  Q4_1,        // blocks of 32: f16 d, f16 m, 16 bytes of nibbles;      x = d*q + m      (20 bytes)
  Q4_K,        // super-blocks of 256 (144 bytes), ggml's layout
  Q5_K,        // super-blocks of 256 (176 bytes), ggml's layout
  Q6_K,        // super-blocks of 256 (210 bytes), ggml's layout
  Q8_GROUPED,  // llama2.c version 2: int8 values, and apart from them one fp32 scale per
               // group of `group_size` values (group_size divides cols: groups never
               // straddle rows, see format/llama2c.cpp)
};

const char* dtype_name(DType t);
// Values per block (1 for F32/F16/BF16; group_size is separate for Q8_GROUPED: 1 here).
std::int64_t dtype_block_values(DType t);
// Bytes per block (for Q8_GROUPED: the int8 values only, 1 per value).
std::int64_t dtype_block_bytes(DType t);

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
