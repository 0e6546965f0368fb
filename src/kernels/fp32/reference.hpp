// Plain scalar kernels: the specification and the test oracle for every fast kernel.
// Each loop is the textbook formula, summing in index order like llama2.c's run.c.
#pragma once
#include <cstdint>

#include "core/types.hpp"
#include "model/tensor.hpp"

namespace llama2::reference {

// y[r] = sum_c W[r][c] * x[c] for rows [row_begin, row_end).
void matvec(const Tensor& w, const float* x, float* y, std::int64_t row_begin, std::int64_t row_end);
// A batch of matvecs: y[t][r] = sum_c W[r][c] * x[t][c] for t < n_tokens, with x laid out as
// [n_tokens, cols] and y as [n_tokens, rows], both row-major.
void matmul(const Tensor& w, const float* x, float* y, int n_tokens);
float dot(const float* a, const float* b, int n);
// y += a * x
void axpy(float a, const float* x, float* y, int n);
// out = weight * x / sqrt(mean(x^2) + eps)
void rmsnorm(float* out, const float* x, const float* weight, int n, float eps);
// x = exp(x - max) / sum, in place
void softmax(float* x, int n);
// Index of the first largest x[i] (0 for n <= 0); NaNs never win, and a NaN x[0] wins.
std::int64_t argmax(const float* x, std::int64_t n);
// h1 = silu(h1) * h3, silu(a) = a / (1 + exp(-a))
void swiglu(float* h1, const float* h3, int n);
// The angle RoPE turns pair i (< head_size/2) of a head by at `pos` (see RopeSpec).
float rope_angle(int pair, int head_size, Position pos, const RopeSpec& spec);
// Rotates the pairs of each head (adjacent, or half a head apart when spec.neox) by
// rope_angle. n is a multiple of head_size when spec.neox; otherwise a last partial head is
// rotated as far as it goes.
void rope(float* v, int n, int head_size, Position pos, const RopeSpec& spec);
// One attention head over positions 0..n_pos-1:
//   scores[t] = q . k_t / sqrt(head_size); softmax; out = sum_t scores[t] * v_t.
// k_t = k + t * kv_stride (same for v); `scores` is scratch of n_pos floats.
void attention_head(const float* q, const float* k, const float* v, std::int64_t kv_stride,
                    int head_size, int n_pos, float* scores, float* out);

}  // namespace llama2::reference
