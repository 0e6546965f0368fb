// ============================================================================
// The integer GEMM's portable half: the token-interleaved activations, the plain decode of
// weight rows, and the scalar reference of the arithmetic (gemm.hpp). Built without FP
// contraction (CMakeLists.txt), so that the reference's products round where the spec says.
// ============================================================================
#include "kernels/int8/gemm.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace llama2::int8::detail {

bool gemm_handles(const Tensor& w) {
  switch (w.type) {
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::Q4_1:
    case DType::Q4_K:
    case DType::Q5_K:
    case DType::Q6_K: return true;
    case DType::Q8_GROUPED: return w.group_size == 32 || w.group_size == 64;
    default: return false;
  }
}

// ---------------------------------------------------------------------------
// Activations
// ---------------------------------------------------------------------------

void TokenPanelBuffer::build(const Acts* acts, int n_tokens, std::int64_t n, int block) {
  const int groups = (n_tokens + kGemmLanes - 1) / kGemmLanes;
  const std::int64_t blocks = n / block;
  const auto vectors = static_cast<std::size_t>(groups) * static_cast<std::size_t>(blocks);
  u_.assign(vectors * kGemmLanes * static_cast<std::size_t>(block), std::uint8_t{128});
  d_.assign(vectors * kGemmLanes, 0.0f);
  dsum_.assign(vectors * kGemmLanes, 0.0f);
  panel_ = {u_.data(), d_.data(), dsum_.data(), blocks, block, n_tokens, groups};
  for (int t = 0; t < n_tokens; ++t) {
    const int g = t / kGemmLanes, lane = t % kGemmLanes;
    const Acts& a = acts[t];
    for (std::int64_t b = 0; b < blocks; ++b) {
      std::uint8_t* dst = u_.data() + (g * blocks + b) * kGemmLanes * block + 4 * lane;
      const std::int8_t* src = a.q + b * block;
      // Four bytes at a time: x + 128 is x with its top bit flipped.
      for (int k = 0; k < block; k += 4) {
        std::uint32_t v;
        std::memcpy(&v, src + k, 4);
        v ^= 0x80808080u;
        std::memcpy(dst + k / 4 * (4 * kGemmLanes), &v, 4);
      }
      d_[(g * blocks + b) * kGemmLanes + lane] = a.d[b];
      dsum_[(g * blocks + b) * kGemmLanes + lane] = a.dsum[b];
    }
  }
}

// ---------------------------------------------------------------------------
// Weight rows
// ---------------------------------------------------------------------------

void DecodedRows::resize(int count, std::int64_t cols_, std::int64_t blocks_, int parts_) {
  cols = cols_, blocks = blocks_, parts = parts_;
  const auto rows = static_cast<std::size_t>(count);
  if (q.size() < rows * cols) q.resize(rows * cols);
  if (s.size() < rows * blocks * parts) s.resize(rows * blocks * parts), a.resize(rows * blocks * parts);
  if (m.size() < rows * blocks) m.resize(rows * blocks);
}

void decode_rows_reference(const Tensor& w, std::int64_t row, int count, DecodedRows& out) {
  const int block = act_block(w), parts = gemm_parts(w.type), part = block / parts;
  out.resize(count, w.cols, w.cols / block, parts);
  for (int i = 0; i < count; ++i) {
    std::int8_t* q = out.q.data() + i * w.cols;
    float* a = out.a.data() + i * out.blocks * parts;
    float* m = out.m.data() + i * out.blocks;
    if (w.type == DType::Q8_GROUPED) {
      std::memcpy(q, w.row_data(row + i), static_cast<std::size_t>(w.cols));
      const float* scales = w.scales + (row + i) * out.blocks;
      for (std::int64_t b = 0; b < out.blocks; ++b) a[b] = scales[b], m[b] = 0.0f;
    } else {
      const auto* data = reinterpret_cast<const std::uint8_t*>(w.row_data(row + i));
      const int values = dtype_block_values(w.type), bytes = dtype_block_bytes(w.type);
      IntBlock ib;
      for (std::int64_t blk = 0; blk < w.cols / values; ++blk) {
        decode_int_block(w.type, data + blk * bytes, ib);
        std::memcpy(q + blk * values, ib.q, static_cast<std::size_t>(values));
        for (int j = 0; j < values / kQK; ++j) {
          const std::int64_t b = blk * (values / kQK) + j;
          m[b] = ib.m[j];
          // Q6_K: a part's scale is a * its sub-block scale (exact: 11 by 8 significant bits).
          for (int p = 0; p < parts; ++p) a[b * parts + p] = parts == 1 ? ib.a[j] : ib.a[j] * static_cast<float>(ib.isc[2 * j + p]);
        }
      }
    }
    for (std::int64_t bp = 0; bp < out.blocks * parts; ++bp) {
      std::int32_t sum = 0;
      for (int k = 0; k < part; ++k) sum += q[bp * part + k];
      out.s[i * out.blocks * parts + bp] = 128 * sum;
    }
  }
}

// ---------------------------------------------------------------------------
// The reference
// ---------------------------------------------------------------------------

void gemm_reference(const Tensor& w, const TokenPanel& p, float* y, std::int64_t ldy, std::int64_t row_begin,
                    std::int64_t row_end) {
  const bool mins = gemm_has_mins(w.type);
  DecodedRows rows;
  for (std::int64_t r = row_begin; r < row_end; ++r) {
    decode_rows_reference(w, r, 1, rows);
    for (int t = 0; t < p.n_tokens; ++t) {
      const int g = t / kGemmLanes, lane = t % kGemmLanes;
      float f = 0.0f;
      for (std::int64_t b = 0; b < p.blocks; ++b) {
        const std::uint8_t* u = p.group_u(g, b);
        for (int part = 0; part < rows.parts; ++part) {
          const int len = p.block / rows.parts;
          std::int32_t dot = 0;  // sum q (x + 128), then less 128 sum q: sum q x, exactly
          for (int k = part * len; k < (part + 1) * len; ++k)
            dot += rows.q[b * p.block + k] * u[k / 4 * (4 * kGemmLanes) + 4 * lane + k % 4];
          dot -= rows.s[b * rows.parts + part];
          const float scale = rows.a[b * rows.parts + part] * p.group_d(g, b)[lane];
          f = std::fma(static_cast<float>(dot), scale, f);
        }
        if (mins) f = std::fma(rows.m[b], p.group_dsum(g, b)[lane], f);
      }
      y[t * ldy + r] = f;
    }
  }
}

}  // namespace llama2::int8::detail
