#include "model/tensor.hpp"

#include <cstring>

#include "kernels/quant.hpp"

namespace llama2 {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::Q8_0: return "q8_0";
    case DType::Q4_0: return "q4_0";
    case DType::Q4_1: return "q4_1";
    case DType::Q4_K: return "q4_k";
    case DType::Q5_K: return "q5_k";
    case DType::Q6_K: return "q6_k";
    case DType::Q8_GROUPED: return "q8_grouped";
  }
  return "?";
}

std::int64_t dtype_block_values(DType t) {
  switch (t) {
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_1: return 32;
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: return 256;
    default: return 1;
  }
}

std::int64_t dtype_block_bytes(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::F16:
    case DType::BF16: return 2;
    case DType::Q8_0: return 34;
    case DType::Q4_0: return 18;
    case DType::Q4_1: return 20;
    case DType::Q4_K: return 144;
    case DType::Q5_K: return 176;
    case DType::Q6_K: return 210;
    case DType::Q8_GROUPED: return 1;
  }
  return 0;
}

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
    default:  // F16, BF16 and the ggml block types: the scalar decoders of kernels/quant
      quant::dequantize_row(t.type, t.row_data(r), out, t.cols);
      return;
  }
}

}  // namespace llama2
