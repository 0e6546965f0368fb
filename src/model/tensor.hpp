// A weight tensor: a typed view into memory the Model owns (normally the file mapping).
#pragma once
#include <cstddef>
#include <cstdint>

namespace llama2 {

// Element types of weights. F32 is the llama2.c v0/v1 type; the others come with the
// quantized and GGUF formats.
enum class DType : std::uint8_t {
  F32,
  Q8_0,  // groups of `group_size` int8 values, one fp32 scale per group, scales stored apart
};

const char* dtype_name(DType t);

// A row-major [rows, cols] matrix (a vector has rows == 1).
struct Tensor {
  DType type = DType::F32;
  const void* data = nullptr;      // F32: float[rows*cols]; Q8_0: int8[rows*cols]
  const float* scales = nullptr;   // Q8_0: one per group of group_size consecutive values
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  int group_size = 0;              // Q8_0 only; always divides cols (rows never straddle)

  std::int64_t size() const { return rows * cols; }
  const float* f32() const { return static_cast<const float*>(data); }
  const std::int8_t* i8() const { return static_cast<const std::int8_t*>(data); }
  // Bytes this tensor's weights occupy (what one pass over it reads).
  std::uint64_t bytes() const;
};

// Writes row `r` of `t` as fp32 into out[cols] (token embedding lookup).
void dequantize_row(const Tensor& t, std::int64_t r, float* out);

}  // namespace llama2
