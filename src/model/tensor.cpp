#include "model/tensor.hpp"

#include <cstring>

namespace llama2 {

const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::Q8_0: return "q8_0";
  }
  return "?";
}

std::uint64_t Tensor::bytes() const {
  const auto n = static_cast<std::uint64_t>(size());
  switch (type) {
    case DType::F32: return n * 4;
    case DType::Q8_0: return n + n / group_size * 4;
  }
  return 0;
}

void dequantize_row(const Tensor& t, std::int64_t r, float* out) {
  switch (t.type) {
    case DType::F32:
      std::memcpy(out, t.f32() + r * t.cols, t.cols * sizeof(float));
      return;
    case DType::Q8_0: {
      const std::int8_t* q = t.i8() + r * t.cols;
      const float* s = t.scales + r * t.cols / t.group_size;
      for (std::int64_t i = 0; i < t.cols; ++i) out[i] = q[i] * s[i / t.group_size];
      return;
    }
  }
}

}  // namespace llama2
