// ggml's block layouts as byte offsets, and the readers of packed fields that the codec
// (dtype/codec.cpp) and the integer kernels (kernels/int8/) share.
#pragma once
#include <cstdint>
#include <cstring>

namespace llama2::blocks {

// Byte offsets; multi-byte fields are little-endian fp16.
// Q8_0 (34 B):  d | qs[32] int8                          x = d * q
// Q4_0 (18 B):  d | qs[16] nibbles                       x = d * (q - 8)
// Q4_1 (20 B):  d | m | qs[16] nibbles                   x = d * q + m
//   value j < 16 is the low nibble of qs[j], value j + 16 its high nibble.
// Q4_K (144 B): d | dmin | scales[12] | qs[128]          x = d*sc_j*q - dmin*m_j, 8 sub-blocks
// Q5_K (176 B): d | dmin | scales[12] | qh[32] | qs[128]  of 32 with 6-bit sc_j, m_j packed in
//   scales[12]. Values 64k..64k+31 are the low nibbles of qs[32k..32k+31], values 64k+32..
//   64k+63 their high nibbles; Q5_K adds bit 2k (resp. 2k+1) of qh[l] as the 5th bit (16).
// Q6_K (210 B): ql[128] | qh[64] | scales[16] int8 | d   x = d * sc_h * (q - 32), 16
//   sub-blocks of 16. In each half n of 128 values, for l < 32: value l is the low nibble of
//   ql[64n+l] with bits 0-1 of qh[32n+l] on top, value 32+l the low nibble of ql[64n+32+l]
//   with bits 2-3, value 64+l the high nibble of ql[64n+l] with bits 4-5, value 96+l the high
//   nibble of ql[64n+32+l] with bits 6-7.
inline constexpr int kQK = 32;    // values per block of Q8_0 / Q4_0 / Q4_1
inline constexpr int kQKK = 256;  // values per K-quant super-block
inline constexpr int kQ4KScales = 4, kQ4KQs = 16;
inline constexpr int kQ5KScales = 4, kQ5KQh = 16, kQ5KQs = 48;
inline constexpr int kQ6KQl = 0, kQ6KQh = 128, kQ6KScales = 192, kQ6KD = 208;

inline std::uint16_t load_u16(const std::uint8_t* p) {
  std::uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline void store_u16(std::uint8_t* p, std::uint16_t v) { std::memcpy(p, &v, 2); }

// The 6-bit scale and min of sub-block j (0..7) from a K-quant's 12 packed bytes.
inline void k_scale_min(const std::uint8_t* s, int j, int& sc, int& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
    m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
  }
}

// The 6-bit value of Q6_K's value i (0..255) in block b, before subtracting 32.
inline int q6_k_value(const std::uint8_t* b, int i) {
  const int n = i / 128, k = (i % 128) / 32, l = i % 32;
  const std::uint8_t lo = b[kQ6KQl + 64 * n + 32 * (k & 1) + l];
  const int low = (k < 2) ? (lo & 0x0F) : (lo >> 4);
  const int high = (b[kQ6KQh + 32 * n + l] >> (2 * k)) & 3;
  return low | (high << 4);
}

// The 4- or 5-bit value of Q4_K / Q5_K's value i (qh == nullptr for Q4_K).
inline int k_affine_value(const std::uint8_t* qs, const std::uint8_t* qh, int i) {
  const int k = i / 64, half = (i % 64) / 32, l = i % 32;
  int v = half ? (qs[32 * k + l] >> 4) : (qs[32 * k + l] & 0x0F);
  if (qh) v |= ((qh[l] >> (2 * k + half)) & 1) << 4;
  return v;
}

}  // namespace llama2::blocks
