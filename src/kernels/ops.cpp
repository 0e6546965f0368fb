// The kernels the transformer calls: the one thread split over the ThreadPool, on top of two
// back ends that each pick their instruction set at run time: Highway for fp32 (fp32/) and
// the integer kernels for quantized weights (int8/).
#include "kernels/ops.hpp"

#include <algorithm>

#include "kernels/fp32/simd_config.hpp"  // before hwy/targets.h, like every hwy include here
#include "hwy/targets.h"
#include "kernels/fp32/simd_ops.hpp"
#include "kernels/int8/int8_kernels.hpp"

namespace llama2::ops {

namespace {
// Rows per chunk handed to a thread. A multiple of the 4-row tiles of the quantized and
// batched kernels, so every full tile stays whole (fp32 matvec goes one row at a time); and
// 16 rows are 64 bytes of y, so two threads never write the same cache line of a 64-byte
// aligned y. Chunks are spread evenly: threads differ by at most 16 rows.
constexpr std::int64_t kRowGrain = 16;

// The rows of several matrices taken one after another, as one pool job: the total, and
// fn(i, lo, hi) for the part of rows [begin, end) that falls in matrix i (rows relative to it;
// a task's range is cut at matrix boundaries).
std::int64_t total_rows(std::span<const MatvecOutput> outputs) {
  std::int64_t total = 0;
  for (const MatvecOutput& o : outputs) total += o.w->rows;
  return total;
}
template <class F>
void for_each_part(std::span<const MatvecOutput> outputs, std::int64_t begin, std::int64_t end, F&& fn) {
  std::int64_t offset = 0;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    const std::int64_t lo = std::max(begin, offset), hi = std::min(end, offset + outputs[i].w->rows);
    if (lo < hi) fn(i, lo - offset, hi - offset);
    offset += outputs[i].w->rows;
  }
}

// Every matrix product below: y_i = W_i x for matrices that read the same x [n_tokens, cols],
// all their rows as one pool job. F32 rows go to the Highway kernels; the other types to the
// integer kernels, for which x is quantized once, up front (int8::Product). `batched` picks
// Highway's matmul kernel (4-row tiles) over its matvec one even for one token: a batch's
// rows must get the same bits whatever its size.
void multiply(std::span<const MatvecOutput> outputs, const float* x, int n_tokens, bool batched, ThreadPool& pool) {
  if (n_tokens <= 0 || outputs.empty()) return;
  constexpr std::size_t kMax = int8::Product::kMaxMatrices;
  if (outputs.size() > kMax) {
    multiply(outputs.first(kMax), x, n_tokens, batched, pool);
    return multiply(outputs.subspan(kMax), x, n_tokens, batched, pool);
  }
  const Tensor* quantized[kMax] = {};
  bool any_quantized = false;
  for (std::size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].w->type == DType::F32) continue;
    quantized[i] = outputs[i].w;
    any_quantized = true;
  }
  // One per calling thread, reused (its buffers grow to the largest call). The workers read the
  // caller's through this reference: a thread_local named inside the task would be their own.
  thread_local int8::Product caller_product;
  int8::Product& product = caller_product;
  if (any_quantized) product.prepare(std::span(quantized, outputs.size()), x, n_tokens, &pool);
  pool.parallel_for(total_rows(outputs), kRowGrain, [&](std::int64_t b, std::int64_t e) {
    for_each_part(outputs, b, e, [&](std::size_t i, std::int64_t lo, std::int64_t hi) {
      const MatvecOutput& o = outputs[i];
      if (quantized[i] != nullptr) {
        product.rows(i, o.y, lo, hi);
      } else if (!batched) {
        simd::matvec_rows(*o.w, x, o.y, lo, hi);
      } else {
        simd::matmul_rows(*o.w, x, o.y, n_tokens, lo, hi);
      }
    });
  });
}
}  // namespace

void matvec(const Tensor& w, const float* x, float* y, ThreadPool& pool) {
  const MatvecOutput one[] = {{&w, y}};
  multiply(one, x, 1, false, pool);
}

void matvec_shared(std::span<const MatvecOutput> outputs, const float* x, ThreadPool& pool) {
  multiply(outputs, x, 1, false, pool);
}

void matmul(const Tensor& w, const float* x, float* y, int n_tokens, ThreadPool& pool) {
  const MatvecOutput one[] = {{&w, y}};
  multiply(one, x, n_tokens, true, pool);
}

void matmul_shared(std::span<const MatvecOutput> outputs, const float* x, int n_tokens, ThreadPool& pool) {
  multiply(outputs, x, n_tokens, true, pool);
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
