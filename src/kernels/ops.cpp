// The kernels the transformer calls: the thread split over the ThreadPool, on top of the
// Highway back end (simd_ops.cpp), which picks the instruction set at run time.
#include "kernels/ops.hpp"

#include <algorithm>

#include "kernels/quant.hpp"
#include "kernels/simd_config.hpp"  // before hwy/targets.h, like every hwy include here
#include "hwy/targets.h"
#include "kernels/simd_ops.hpp"

namespace llama2::ops {

namespace {
// Rows per chunk handed to a thread. A multiple of the 4-row tiles of the quantized and
// batched kernels, so every full tile stays whole (fp32 matvec goes one row at a time); and
// 16 rows are 64 bytes of y, so two threads never write the same cache line of a 64-byte
// aligned y. Chunks are spread evenly: threads differ by at most 16 rows.
constexpr std::int64_t kRowGrain = 16;
}  // namespace

void matvec_rows(const Tensor& w, const float* x, float* y, std::int64_t row_begin, std::int64_t row_end) {
  if (w.type != DType::F32) return quant::matvec_rows(w, x, y, row_begin, row_end);  // int8 kernels
  simd::matvec_rows(w, x, y, row_begin, row_end);
}

void matvec(const Tensor& w, const float* x, float* y, ThreadPool& pool) {
  if (w.type != DType::F32) return quant::matvec(w, x, y, pool);  // int8 kernels (kernels/quant)
  pool.parallel_for(w.rows, kRowGrain, [&](std::int64_t b, std::int64_t e) { simd::matvec_rows(w, x, y, b, e); });
}

namespace {
// 1: every matrix is F32; -1: none is; 0: a mix (no known file has one).
int f32_kind(std::span<const MatvecOutput> outputs) {
  bool all_f32 = true, none_f32 = true;
  for (const MatvecOutput& o : outputs) (o.w->type == DType::F32 ? none_f32 : all_f32) = false;
  return all_f32 ? 1 : none_f32 ? -1 : 0;
}
}  // namespace

void matvec_shared(std::span<const MatvecOutput> outputs, const float* x, ThreadPool& pool) {
  const int kind = f32_kind(outputs);
  if (kind < 0) return quant::matvec_shared(outputs, x, pool);
  if (kind == 0) {  // a mix: one job per matrix
    for (const MatvecOutput& o : outputs) matvec(*o.w, x, o.y, pool);
    return;
  }
  pool.parallel_for(total_rows(outputs), kRowGrain, [&](std::int64_t b, std::int64_t e) {
    for_each_part(outputs, b, e, [&](std::size_t i, std::int64_t lo, std::int64_t hi) {
      simd::matvec_rows(*outputs[i].w, x, outputs[i].y, lo, hi);
    });
  });
}

void matmul_shared(std::span<const MatvecOutput> outputs, const float* x, int n_tokens, ThreadPool& pool) {
  const int kind = f32_kind(outputs);
  if (kind < 0) return quant::matmul_shared(outputs, x, n_tokens, pool);
  if (kind == 0) {
    for (const MatvecOutput& o : outputs) matmul(*o.w, x, o.y, n_tokens, pool);
    return;
  }
  pool.parallel_for(total_rows(outputs), kRowGrain, [&](std::int64_t b, std::int64_t e) {
    for_each_part(outputs, b, e, [&](std::size_t i, std::int64_t lo, std::int64_t hi) {
      simd::matmul_rows(*outputs[i].w, x, outputs[i].y, n_tokens, lo, hi);
    });
  });
}

void matmul_rows(const Tensor& w, const float* x, float* y, int n_tokens, std::int64_t row_begin,
                 std::int64_t row_end) {
  if (w.type != DType::F32) return quant::matmul_rows(w, x, y, n_tokens, row_begin, row_end);
  simd::matmul_rows(w, x, y, n_tokens, row_begin, row_end);
}

void matmul(const Tensor& w, const float* x, float* y, int n_tokens, ThreadPool& pool) {
  if (w.type != DType::F32) return quant::matmul(w, x, y, n_tokens, pool);
  pool.parallel_for(w.rows, kRowGrain,
                    [&](std::int64_t b, std::int64_t e) { simd::matmul_rows(w, x, y, n_tokens, b, e); });
}

float dot(const float* a, const float* b, int n) { return simd::dot(a, b, n); }
void axpy(float a, const float* x, float* y, int n) { simd::axpy(a, x, y, n); }
void rmsnorm(float* out, const float* x, const float* weight, int n, float eps) {
  simd::rmsnorm(out, x, weight, n, eps);
}
void softmax(float* x, int n) { simd::softmax(x, n); }
std::int64_t argmax(const float* x, std::int64_t n) { return simd::argmax(x, n); }
void swiglu(float* h1, const float* h3, int n) { simd::swiglu(h1, h3, n); }
void rope(float* v, int n, int head_size, Position pos, const RopeSpec& spec) {
  simd::rope(v, n, head_size, pos, spec);
}
void attention_head(const float* q, const float* k, const float* v, std::int64_t kv_stride,
                    int head_size, int n_pos, float* scores, float* out) {
  simd::attention_head(q, k, v, kv_stride, head_size, n_pos, scores, out);
}

const char* simd_target_name() { return hwy::TargetName(simd::target()); }

}  // namespace llama2::ops
