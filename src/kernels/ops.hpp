// The kernels the transformer calls. Each has a scalar twin in reference.hpp; the versions
// here are the fastest available on the running CPU (SIMD chosen at run time) and are
// differential-tested against those twins.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>

#include "core/thread_pool.hpp"
#include "core/types.hpp"
#include "model/tensor.hpp"

namespace llama2::ops {

// y[rows] = W[rows, cols] x[cols], rows split over the pool.
void matvec(const Tensor& w, const float* x, float* y, ThreadPool& pool);
// One matrix of a matvec_shared call: y = (*w) x.
struct MatvecOutput {
  const Tensor* w;
  float* y;
};
// y_i = W_i x for matrices that read the same x (q, k, v; or w1, w3): their rows go to the pool
// as one job, so the threads wait for each other once instead of once per matrix, and a
// quantized x is made once. Each y_i is bit-identical to matvec(*w_i, x, y_i).
void matvec_shared(std::span<const MatvecOutput> outputs, const float* x, ThreadPool& pool);
// Batched matvec for prompt processing: y[t][r] = sum_c W[r][c] * x[t][c] for t < n_tokens,
// x is [n_tokens, cols] and y is [n_tokens, rows], both row-major. Rows are split over the
// pool; each row's results are computed by one thread in a fixed order, so the output does
// not depend on the thread count.
void matmul(const Tensor& w, const float* x, float* y, int n_tokens, ThreadPool& pool);
// matmul for matrices that read the same x, as one pool job (q, k, v; or w1, w3 of a batch):
// each y_i is [n_tokens, rows_i] and bit-identical to matmul(*w_i, x, y_i, n_tokens).
void matmul_shared(std::span<const MatvecOutput> outputs, const float* x, int n_tokens, ThreadPool& pool);
float dot(const float* a, const float* b, int n);
void axpy(float a, const float* x, float* y, int n);
void rmsnorm(float* out, const float* x, const float* weight, int n, float eps);
void softmax(float* x, int n);
// reference::argmax, vectorised (greedy sampling over the whole vocabulary every token).
std::int64_t argmax(const float* x, std::int64_t n);
void swiglu(float* h1, const float* h3, int n);
void rope(float* v, int n, int head_size, Position pos, const RopeSpec& spec);
void attention_head(const float* q, const float* k, const float* v, std::int64_t kv_stride,
                    int head_size, int n_pos, float* scores, float* out);

// Name of the SIMD target chosen at run time (hwy::TargetName: "AVX3", "AVX2", "NEON",
// "EMU128" for the portable fallback, ...).
const char* simd_target_name();

}  // namespace llama2::ops
