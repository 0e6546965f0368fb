// The Highway back end of the ops: one copy of each kernel per instruction set (see
// simd_config.hpp), the best one for the running CPU chosen at the first call. ops.cpp is
// the only intended caller; it adds the thread split. Semantics are those of reference.hpp.
// The matrix kernels take F32 weights only: quantized types have their own integer kernels
// (kernels/int8/int8_kernels.hpp), to which ops.cpp routes them.
#pragma once
#include <cstdint>

#include "core/types.hpp"
#include "model/tensor.hpp"

namespace llama2::simd {

void matvec_rows(const Tensor& w, const float* x, float* y, std::int64_t row_begin, std::int64_t row_end);
void matmul_rows(const Tensor& w, const float* x, float* y, int n_tokens, std::int64_t row_begin,
                 std::int64_t row_end);
float dot(const float* a, const float* b, int n);
void axpy(float a, const float* x, float* y, int n);
void rmsnorm(float* out, const float* x, const float* weight, int n, float eps);
void softmax(float* x, int n);
std::int64_t argmax(const float* x, std::int64_t n);
void swiglu(float* h1, const float* h3, int n);
void rope(float* v, int n, int head_size, Position pos, const RopeSpec& spec);
void attention_head(const float* q, const float* k, const float* v, std::int64_t kv_stride,
                    int head_size, int n_pos, float* scores, float* out);

// The HWY_* bit of the target the calls above dispatch to.
std::int64_t target();

}  // namespace llama2::simd
