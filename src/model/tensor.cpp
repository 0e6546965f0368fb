#include "model/tensor.hpp"

#include <cstring>

#include "dtype/codec.hpp"

namespace llama2 {

std::uint64_t Tensor::bytes() const {
  std::uint64_t b = static_cast<std::uint64_t>(rows) * row_bytes();
  if (type == DType::Q8_GROUPED) b += static_cast<std::uint64_t>(size()) / group_size * 4;
  return b;
}

void dequantize_row(const Tensor& t, std::int64_t r, float* out) {
  switch (t.type) {
    case DType::F32:
      std::memcpy(out, t.f32() + r * t.cols, t.cols * sizeof(float));
      return;
    case DType::Q8_GROUPED: {
      const std::int8_t* q = t.i8() + r * t.cols;
      const float* s = t.scales + r * t.cols / t.group_size;
      for (std::int64_t i = 0; i < t.cols; ++i) out[i] = q[i] * s[i / t.group_size];
      return;
    }
    default:  // F16, BF16 and the ggml block types: the scalar decoders of dtype/codec
      quant::dequantize_row(t.type, t.row_data(r), out, t.cols);
      return;
  }
}

}  // namespace llama2
