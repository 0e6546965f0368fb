#include "kernels/fp32/reference.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

namespace llama2::reference {

void matvec(const Tensor& w, const float* x, float* y, std::int64_t row_begin, std::int64_t row_end) {
  const std::int64_t n = w.cols;
  std::vector<float> dequantized(w.type == DType::F32 ? 0 : n);
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    const float* row = dequantized.data();
    if (w.type == DType::F32)
      row = w.f32() + r * n;
    else  // any other type: its plain dequantization, then the fp32 sum
      dequantize_row(w, r, dequantized.data());
    float sum = 0.0f;
    for (std::int64_t c = 0; c < n; ++c) sum += row[c] * x[c];
    y[r] = sum;
  }
}

void matmul(const Tensor& w, const float* x, float* y, int n_tokens) {
  for (int t = 0; t < n_tokens; ++t) matvec(w, x + t * w.cols, y + t * w.rows, 0, w.rows);
}

float dot(const float* a, const float* b, int n) {
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void axpy(float a, const float* x, float* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += a * x[i];
}

void rmsnorm(float* out, const float* x, const float* weight, int n, float eps) {
  float ss = 0.0f;
  for (int i = 0; i < n; ++i) ss += x[i] * x[i];
  ss = 1.0f / std::sqrt(ss / n + eps);
  for (int i = 0; i < n; ++i) out[i] = weight[i] * (ss * x[i]);
}

void softmax(float* x, int n) {
  float max = x[0];
  for (int i = 1; i < n; ++i) max = x[i] > max ? x[i] : max;
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - max);
    sum += x[i];
  }
  for (int i = 0; i < n; ++i) x[i] /= sum;
}

std::int64_t argmax(const float* x, std::int64_t n) {
  std::int64_t best = 0;
  for (std::int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

void swiglu(float* h1, const float* h3, int n) {
  for (int i = 0; i < n; ++i) {
    const float a = h1[i];
    h1[i] = a / (1.0f + std::exp(-a)) * h3[i];
  }
}

float rope_angle(int pair, int head_size, Position pos, const RopeSpec& spec) {
  float freq = 1.0f / std::pow(spec.theta, static_cast<float>(2 * pair) / static_cast<float>(head_size));
  if (spec.freq_factors != nullptr) freq /= spec.freq_factors[pair];
  return static_cast<float>(pos) * spec.position_scale * freq;
}

void rope(float* v, int n, int head_size, Position pos, const RopeSpec& spec) {
  const int half = head_size / 2;
  for (int base = 0; base < n; base += head_size) {
    float* h = v + base;
    const int len = std::min(head_size, n - base);
    for (int i = 0; i < (spec.neox ? half : len / 2); ++i) {
      const float angle = rope_angle(i, head_size, pos, spec);
      const float c = std::cos(angle), s = std::sin(angle);
      float& a = spec.neox ? h[i] : h[2 * i];
      float& b = spec.neox ? h[i + half] : h[2 * i + 1];
      const float a0 = a, b0 = b;
      a = a0 * c - b0 * s;
      b = a0 * s + b0 * c;
    }
  }
}

void attention_head(const float* q, const float* k, const float* v, std::int64_t kv_stride,
                    int head_size, int n_pos, float* scores, float* out) {
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_size));
  for (int t = 0; t < n_pos; ++t) scores[t] = dot(q, k + t * kv_stride, head_size) * scale;
  softmax(scores, n_pos);
  for (int i = 0; i < head_size; ++i) out[i] = 0.0f;
  for (int t = 0; t < n_pos; ++t) axpy(scores[t], v + t * kv_stride, out, head_size);
}

}  // namespace llama2::reference
