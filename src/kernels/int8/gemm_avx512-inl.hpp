// The AVX-512 VNNI GEMM (gemm.hpp): included by x86-inl.hpp inside its namespace when
// LLAMA2_QUANT_AVX512 is set. No include guard on purpose.
//
// A call decodes kChunkRows weight rows at a time into int8 (a thread's DecodedRows, ~12 KB:
// it stays in L1) and then runs every group of 16 tokens over them, in tiles of kTileRows rows
// x kTileGroups groups. Per activation block and row: block / 4 vpdpbusd, each one 4 bytes of
// the row broadcast against 4 bytes of 16 tokens, then one conversion and two or three float
// operations for 16 tokens.

#if !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// ---- Decoders: rows into DecodedRows, the same bytes as decode_rows_reference ----------------

// The sum of 16 / 32 signed bytes: vpsadbw sums unsigned bytes, so flip the top bits (x + 128).
inline std::int32_t SumBiased(__m128i sad, int bytes) {
  return _mm_cvtsi128_si32(_mm_add_epi64(sad, _mm_unpackhi_epi64(sad, sad))) - bytes * 128;
}
inline std::int32_t SumBytes16(__m128i q) {
  return SumBiased(_mm_sad_epu8(_mm_xor_si128(q, _mm_set1_epi8(-128)), _mm_setzero_si128()), 16);
}
inline std::int32_t SumBytes32(__m256i q) {
  const __m256i s = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8(-128)), _mm256_setzero_si256());
  return SumBiased(_mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1)), 32);
}

// The 16 bytes at p as [low nibbles | high nibbles], minus `offset`.
inline __m256i Unpack16(const std::uint8_t* p, int offset) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)), m = _mm_set1_epi8(0x0F);
  const __m256i both = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
  return _mm256_sub_epi8(both, _mm256_set1_epi8(static_cast<char>(offset)));
}

inline void Put32(DecodedRows& out, std::int64_t at, __m256i q) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out.q.data() + at), q);
}

// Row `i` of the tile: q and, per 32 values, s, a and m.
template <DType kType>
void DecodeRow(const std::uint8_t* row, std::int64_t cols, int i, DecodedRows& out) {
  const std::int64_t base = i * cols, sb = i * out.blocks;
  std::int32_t* s = out.s.data() + sb;
  float* a = out.a.data() + sb;
  float* m = out.m.data() + sb;
  if constexpr (kType == DType::Q8_0 || kType == DType::Q4_0 || kType == DType::Q4_1) {
    constexpr int kBytes = kType == DType::Q8_0 ? 34 : kType == DType::Q4_0 ? 18 : 20;
    for (std::int64_t b = 0; b < cols / kQK; ++b) {
      const std::uint8_t* blk = row + b * kBytes;
      const __m256i q = kType == DType::Q8_0 ? Load32(blk + 2) : kType == DType::Q4_0 ? Unpack16(blk + 2, 8) : Unpack16(blk + 4, 0);
      Put32(out, base + b * kQK, q);
      s[b] = 128 * SumBytes32(q);
      a[b] = F16(blk);
      m[b] = kType == DType::Q4_1 ? F16(blk + 2) : 0.0f;
    }
  } else {  // Q4_K, Q5_K: sub-block j is the low (j even) or high nibbles of bytes 32 (j / 2) ..
    constexpr bool kFive = kType == DType::Q5_K;
    constexpr int kBytes = kFive ? 176 : 144;
    for (std::int64_t sb_i = 0; sb_i < cols / kQKK; ++sb_i) {
      const std::uint8_t* blk = row + sb_i * kBytes;
      // a = d * scale_j and m = -(dmin * min_j), all eight at once (the scales and mins are at the
      // same offset in Q4_K and Q5_K).
      alignas(64) float scaled[16];
      _mm512_store_ps(scaled, KScaledSixBits(blk));
      const std::uint8_t* qs = blk + (kFive ? kQ5KQs : kQ4KQs);
      const __m256i qh = kFive ? Load32(blk + kQ5KQh) : _mm256_setzero_si256();
      for (int j = 0; j < 8; ++j) {
        const __m256i v = Load32(qs + 32 * (j / 2));
        __m256i q = _mm256_and_si256(j % 2 ? _mm256_srli_epi16(v, 4) : v, _mm256_set1_epi8(0x0F));
        // Q5_K: bit j of qh byte l is value l's fifth bit (16-bit shifts: the mask keeps each
        // byte's own bit).
        if constexpr (kFive) q = _mm256_or_si256(q, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, j), _mm256_set1_epi8(1)), 4));
        const std::int64_t b = sb_i * 8 + j;
        Put32(out, base + b * kQK, q);
        s[b] = 128 * SumBytes32(q);
        a[b] = scaled[j];
        m[b] = -scaled[8 + j];
      }
    }
  }
}

// Q6_K: per 128 values, 64 bytes of low nibbles l and 32 of high bit pairs h; values
// 32j .. 32j + 31 take the low (j = 0, 1) or high (j = 2, 3) nibbles of l[32 (j % 2) ..] and
// bits 2j, 2j + 1 of h, less 32. Each 16-value half of a block is its own part, scaled by its
// sub-block scale.
inline void DecodeRowQ6K(const std::uint8_t* row, std::int64_t cols, int i, DecodedRows& out) {
  constexpr int kBytes = 210;
  const std::int64_t base = i * cols, sp = i * out.blocks * 2;
  const __m256i lo4 = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3), bias = _mm256_set1_epi8(32);
  for (std::int64_t sb_i = 0; sb_i < cols / kQKK; ++sb_i) {
    const std::uint8_t* blk = row + sb_i * kBytes;
    const float d = F16(blk + kQ6KD);
    for (int half = 0; half < 2; ++half) {
      const std::uint8_t* ql = blk + kQ6KQl + 64 * half;
      const __m256i h = Load32(blk + kQ6KQh + 32 * half);
      for (int j = 0; j < 4; ++j) {
        const __m256i l = Load32(ql + 32 * (j % 2));
        const __m256i nib = _mm256_and_si256(j < 2 ? l : _mm256_srli_epi16(l, 4), lo4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(h, 2 * j), three);
        const __m256i q = _mm256_sub_epi8(_mm256_or_si256(nib, _mm256_slli_epi16(hi, 4)), bias);
        const std::int64_t b = sb_i * 8 + half * 4 + j;
        Put32(out, base + b * kQK, q);
        for (int part = 0; part < 2; ++part) {
          const __m128i qp = part == 0 ? _mm256_castsi256_si128(q) : _mm256_extracti128_si256(q, 1);
          out.s[sp + b * 2 + part] = 128 * SumBytes16(qp);
          out.a[sp + b * 2 + part] = d * static_cast<float>(static_cast<std::int8_t>(blk[kQ6KScales + 2 * (b % 8) + part]));
        }
        out.m[i * out.blocks + b] = 0.0f;
      }
    }
  }
}

// Q8_GROUPED: the row's bytes as they are, one scale per group of 32 or 64.
inline void DecodeRowGrouped(const Tensor& w, std::int64_t r, int i, DecodedRows& out) {
  const std::int64_t cols = w.cols, gs = w.group_size, sb = i * out.blocks;
  const std::int8_t* q = w.i8() + r * cols;
  std::memcpy(out.q.data() + i * cols, q, static_cast<std::size_t>(cols));
  for (std::int64_t g = 0; g < cols / gs; ++g) {
    std::int32_t sum = 0;
    for (std::int64_t at = g * gs; at < (g + 1) * gs; at += 32) sum += SumBytes32(Load32(q + at));
    out.s[sb + g] = 128 * sum;
    out.a[sb + g] = w.scales[r * (cols / gs) + g];
    out.m[sb + g] = 0.0f;
  }
}

// ---- The kernel --------------------------------------------------------------------------

// The vector width a tile runs at: all 16 lanes of a token group, or the first 8 (a group of
// at most 8 tokens: a batch of 6-8, the server's 8 streams), where 256-bit vpdpbusd does the
// same lanes' work in half the width. Each lane's arithmetic is the same at either width.
struct Lanes16 {
  using I = __m512i;
  using F = __m512;
  static constexpr int kLanes = 16;
  static I LoadI(const std::uint8_t* p) { return _mm512_loadu_si512(p); }
  static I Set1I(std::int32_t v) { return _mm512_set1_epi32(v); }
  static I Dot(I acc, I u, I s) { return _mm512_dpbusd_epi32(acc, u, s); }
  static F LoadF(const float* p) { return _mm512_loadu_ps(p); }
  static F Set1F(float v) { return _mm512_set1_ps(v); }
  static F Zero() { return _mm512_setzero_ps(); }
  static F MulAdd(I dot, F a, F d, F f) { return _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(a, d), f); }
  static F MulAddF(F m, F ds, F f) { return _mm512_fmadd_ps(m, ds, f); }
  static void Store(float* p, F v) { _mm512_storeu_ps(p, v); }
};
struct Lanes8 {
  using I = __m256i;
  using F = __m256;
  static constexpr int kLanes = 8;
  static I LoadI(const std::uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static I Set1I(std::int32_t v) { return _mm256_set1_epi32(v); }
  static I Dot(I acc, I u, I s) { return _mm256_dpbusd_epi32(acc, u, s); }
  static F LoadF(const float* p) { return _mm256_loadu_ps(p); }
  static F Set1F(float v) { return _mm256_set1_ps(v); }
  static F Zero() { return _mm256_setzero_ps(); }
  static F MulAdd(I dot, F a, F d, F f) { return _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_mul_ps(a, d), f); }
  static F MulAddF(F m, F ds, F f) { return _mm256_fmadd_ps(m, ds, f); }
  static void Store(float* p, F v) { _mm256_storeu_ps(p, v); }
};

// Rows row0 .. row0 + R - 1 of the decoded tile against token groups g .. g + G - 1: f[r * G + i]
// holds row r's sums for the tokens of group g + i. Each broadcast weight feeds G vpdpbusd
// and each activation vector R; a row's integer sum starts at -128 sum q (exact either way).
template <class V, int R, int G, int kGroups, int kParts, bool kMins>
[[gnu::always_inline]] inline void GemmTile(const DecodedRows& rows, int row0, const TokenPanel& p, int g, typename V::F* f) {
  using I = typename V::I;
  using F = typename V::F;
  constexpr int kBlock = 4 * kGroups, kPartGroups = kGroups / kParts;
  for (int i = 0; i < R * G; ++i) f[i] = V::Zero();
  const std::int8_t* q[R];
  for (int r = 0; r < R; ++r) q[r] = rows.q.data() + (row0 + r) * rows.cols;
  for (std::int64_t b = 0; b < p.blocks; ++b) {
    const std::uint8_t* u[G];
    for (int i = 0; i < G; ++i) u[i] = p.group_u(g + i, b);
    F d[G];
    for (int i = 0; i < G; ++i) d[i] = V::LoadF(p.group_d(g + i, b));
    for (int part = 0; part < kParts; ++part) {
      I acc[R * G];
      for (int r = 0; r < R; ++r) {
        const I start = V::Set1I(-rows.s[((row0 + r) * rows.blocks + b) * kParts + part]);
        for (int i = 0; i < G; ++i) acc[r * G + i] = start;
      }
#pragma GCC unroll 16
      for (int k = part * kPartGroups; k < (part + 1) * kPartGroups; ++k) {
        I x[G];
        for (int i = 0; i < G; ++i) x[i] = V::LoadI(u[i] + 64 * k);
        for (int r = 0; r < R; ++r) {
          std::int32_t w4;
          std::memcpy(&w4, q[r] + b * kBlock + 4 * k, 4);
          const I w = V::Set1I(w4);
          for (int i = 0; i < G; ++i) acc[r * G + i] = V::Dot(acc[r * G + i], x[i], w);
        }
      }
      for (int r = 0; r < R; ++r) {
        const F a = V::Set1F(rows.a[((row0 + r) * rows.blocks + b) * kParts + part]);
        for (int i = 0; i < G; ++i) f[r * G + i] = V::MulAdd(acc[r * G + i], a, d[i], f[r * G + i]);
      }
    }
    if constexpr (kMins) {
      for (int r = 0; r < R; ++r) {
        const F m = V::Set1F(rows.m[(row0 + r) * rows.blocks + b]);
        for (int i = 0; i < G; ++i) f[r * G + i] = V::MulAddF(m, V::LoadF(p.group_dsum(g + i, b)), f[r * G + i]);
      }
    }
  }
}

// A tile: 4 rows x 2 token groups, 8 independent vpdpbusd chains (quant_bench, 2048 x 768 by
// 128 tokens, one core: 8 rows x 1 group 107-109, 6 x 2 125, 4 x 3 129, 4 x 2 123-136 G
// multiply-adds/s; 3 x 4 spilled registers, 79).
inline constexpr int kTileRows = 4, kTileGroups = 2;

// Stores rows [0, count) of f (R rows x G groups from group g) into y.
template <class V, int G>
inline void StoreTile(const typename V::F* f, int count, int g, const TokenPanel& p, std::int64_t row0, float* y,
                      std::int64_t ldy) {
  for (int r = 0; r < count; ++r)
    for (int i = 0; i < G; ++i) {
      const int lanes = std::min(V::kLanes, p.n_tokens - (g + i) * kGemmLanes);
      alignas(64) float lane[kGemmLanes];
      V::Store(lane, f[r * G + i]);
      for (int j = 0; j < lanes; ++j) y[((g + i) * kGemmLanes + j) * ldy + row0 + r] = lane[j];
    }
}

// Rows [0, count) of the decoded chunk (row0 on in y) against token groups g .. g + G - 1, all
// the chunk's row tiles before the next groups, so that the groups' activations stay in L1 and
// each token's outputs for the chunk (64 bytes at 16 rows) are written together. (Tiles first,
// groups inner, streamed the whole panel from L2 per tile and scattered each store to its own
// cache line: 2048 x 768 by 128 tokens ran at 110 against 160 G multiply-adds/s for 768 x 2048.)
template <class V, int G, int kGroups, int kParts, bool kMins>
[[gnu::always_inline]] inline void GemmGroups(const DecodedRows& rows, int count, std::int64_t row0, const TokenPanel& p, int g,
                                              float* y, std::int64_t ldy) {
  typename V::F f[kTileRows * G];
  int r = 0;
  for (; r + kTileRows <= count; r += kTileRows) {
    GemmTile<V, kTileRows, G, kGroups, kParts, kMins>(rows, r, p, g, f);
    StoreTile<V, G>(f, kTileRows, g, p, row0 + r, y, ldy);
  }
  for (; r < count; ++r) {
    GemmTile<V, 1, G, kGroups, kParts, kMins>(rows, r, p, g, f);
    StoreTile<V, G>(f, 1, g, p, row0 + r, y, ldy);
  }
}

template <int kGroups, int kParts, bool kMins>
void GemmDecoded(const DecodedRows& rows, int count, std::int64_t row0, const TokenPanel& p, float* y, std::int64_t ldy) {
  int g = 0;
  for (; g + kTileGroups <= p.groups; g += kTileGroups)
    GemmGroups<Lanes16, kTileGroups, kGroups, kParts, kMins>(rows, count, row0, p, g, y, ldy);
  for (; g < p.groups; ++g) {  // groups left over, one at a time; a last one of <= 8 tokens at half width
    if (p.n_tokens - g * kGemmLanes <= Lanes8::kLanes) GemmGroups<Lanes8, 1, kGroups, kParts, kMins>(rows, count, row0, p, g, y, ldy);
    else GemmGroups<Lanes16, 1, kGroups, kParts, kMins>(rows, count, row0, p, g, y, ldy);
  }
}

// Rows decoded at a time: 16 x 768 int8 is 12 KB, in L1 beside the activations of G groups.
inline constexpr int kChunkRows = 16;

// GemmFn for the ggml types and for Q8_GROUPED.
template <DType kType>
void Gemm512(const Tensor& w, const TokenPanel& p, float* y, std::int64_t ldy, std::int64_t row_begin, std::int64_t row_end) {
  thread_local DecodedRows rows;
  rows.resize(kChunkRows, w.cols, p.blocks, gemm_parts(kType));
  for (std::int64_t r0 = row_begin; r0 < row_end; r0 += kChunkRows) {
    const int count = static_cast<int>(std::min<std::int64_t>(kChunkRows, row_end - r0));
    for (int i = 0; i < count; ++i) {
      if constexpr (kType == DType::Q8_GROUPED) DecodeRowGrouped(w, r0 + i, i, rows);
      else if constexpr (kType == DType::Q6_K) DecodeRowQ6K(reinterpret_cast<const std::uint8_t*>(w.row_data(r0 + i)), w.cols, i, rows);
      else DecodeRow<kType>(reinterpret_cast<const std::uint8_t*>(w.row_data(r0 + i)), w.cols, i, rows);
    }
    if (p.block == 64) GemmDecoded<16, 1, false>(rows, count, r0, p, y, ldy);
    else GemmDecoded<8, gemm_parts(kType), gemm_has_mins(kType)>(rows, count, r0, p, y, ldy);
  }
}

// The int8 peak probe: 24 independent vpdpbusd chains (the instruction's latency is ~5 cycles,
// so 12 chains left a third of its throughput unused here).
inline constexpr int kDotChains = 24;
inline std::int32_t DotChains512(std::int64_t iterations, std::int32_t seed) {
  __m512i acc[kDotChains];
  for (int i = 0; i < kDotChains; ++i) acc[i] = _mm512_set1_epi32(seed + i);
  __m512i u = _mm512_set1_epi8(1), s = _mm512_set1_epi8(static_cast<char>(seed));
  for (std::int64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < kDotChains; ++i) acc[i] = _mm512_dpbusd_epi32(acc[i], u, s);
    __asm__ volatile("" : "+v"(u), "+v"(s));  // not loop-invariant: the compiler may not fold the chains
  }
  __m512i sum = acc[0];
  for (int i = 1; i < kDotChains; ++i) sum = _mm512_add_epi32(sum, acc[i]);
  // Summed through memory: GCC 12 reports _mm512_reduce_add_epi32's undefined merge source as
  // uninitialized (-Wuninitialized, not covered by the pragma above).
  alignas(64) std::int32_t lanes[16];
  _mm512_store_si512(lanes, sum);
  std::int32_t total = 0;
  for (std::int32_t v : lanes) total += v;
  return total;
}

inline void SetGemms(KernelSet& k) {
  k.dot_chains = DotChains512;
  k.dot_chain_macs = kDotChains * 64;
  k.gemm[static_cast<int>(DType::Q8_0)] = Gemm512<DType::Q8_0>;
  k.gemm[static_cast<int>(DType::Q4_0)] = Gemm512<DType::Q4_0>;
  k.gemm[static_cast<int>(DType::Q4_1)] = Gemm512<DType::Q4_1>;
  k.gemm[static_cast<int>(DType::Q4_K)] = Gemm512<DType::Q4_K>;
  k.gemm[static_cast<int>(DType::Q5_K)] = Gemm512<DType::Q5_K>;
  k.gemm[static_cast<int>(DType::Q6_K)] = Gemm512<DType::Q6_K>;
  k.gemm[static_cast<int>(DType::Q8_GROUPED)] = Gemm512<DType::Q8_GROUPED>;
}

#if !defined(__clang__)
#pragma GCC diagnostic pop
#endif
