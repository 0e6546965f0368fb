// The scalar codec of every weight type: fp16/bf16 <-> fp32, and each block type's encoder
// and decoder in ggml's exact layouts (dtype/blocks.hpp). Plain scalar code: the
// specification of each layout, what file readers and writers (GGUF, llama2.c version 2) call,
// and the reference the integer kernels (kernels/int8/int8_kernels.hpp) are tested against.
#pragma once
#include <cstdint>

#include "dtype/dtype.hpp"

namespace llama2::quant {

// ---- Scalar conversions ------------------------------------------------------------------
// IEEE binary16 and bfloat16 <-> fp32, rounding to nearest even; NaN stays NaN, overflow
// gives infinity (f16), subnormals are handled.
float f16_to_f32(std::uint16_t h);
std::uint16_t f32_to_f16(float f);
float bf16_to_f32(std::uint16_t h);
std::uint16_t f32_to_bf16(float f);

// ---- Rows --------------------------------------------------------------------------------
// Whether quantize_row supports `t` (every DType except F32 and Q8_GROUPED, whose scales do
// not live in the row; see quantize_q8_grouped).
bool can_quantize_row(DType t);
// Bytes that `n` values of type `t` occupy in a row. Throws Error unless `n` is a positive
// multiple of dtype_block_values(t) (and `t` is not Q8_GROUPED).
std::uint64_t row_bytes(DType t, std::int64_t n);
// Writes `n` values (a multiple of the block size) as row_bytes(t, n) bytes of type `t`.
// The K-quant encoders scale each sub-block by its own min/max (simpler than ggml's search:
// valid blocks in ggml's exact layout, a somewhat larger error). Throws Error for F32/Q8_GROUPED
// or a bad `n`.
void quantize_row(DType t, const float* in, void* out, std::int64_t n);
// Reads `n` values of type `t` (every DType but Q8_GROUPED) into fp32, with ggml's formulas.
void dequantize_row(DType t, const void* in, float* out, std::int64_t n);

// llama2.c version 2 quantization of `n` consecutive values in groups of `group_size`
// (which must divide n): scale = max|x| / 127, q = round(x / scale), ties to even like the
// exporter's torch.round. A group of zeros gets scale 0.
void quantize_q8_grouped(const float* in, std::int8_t* q, float* scales, std::int64_t n, int group_size);

}  // namespace llama2::quant
