// ============================================================================
// SIMD kernel sets for quantized matvec, chosen at run time.
//
// Highway 1.0.3 has no int8 dot-product op (and no AVX-VNNI target), so these kernels use
// raw intrinsics. One x86-64 binary must run on any x86-64 CPU, so nothing here relies on
// compiler flags: x86-inl.hpp is compiled four times, each time inside a region with
// that instruction set's target options, and CPUID decides at run time which sets the CPU
// (and the OS, for the AVX/AVX-512 register state) supports:
//   avx512vbmi  avx512vnni, plus VBMI's byte permutes for Q4_0   (Ice Lake+, Zen 4+)
//   avx512vnni  AVX-512 VNNI (+BW, VL): vpdpbusd on 512-bit vectors (Cascade Lake+)
//   avxvnni     AVX-VNNI: the VEX-encoded vpdpbusd                 (Alder Lake+, Zen 5)
//   avx2        vpmaddubsw + vpmaddwd                              (Haswell+, Zen 1+)
// Anything else runs the scalar reference. (AVX-VNNI-INT8's signed x signed vpdpbssd would
// save the sign trick, but needs a newer compiler than Debian 12's GCC 12.)
// On AArch64, NEON is baseline: neon-inl.hpp is compiled twice, and HWCAP decides:
//   neon-dotprod  sdot, the dot-product extension                (Armv8.2+, Apple silicon)
//   neon          widening multiplies and pairwise adds           (every AArch64 CPU)
// ============================================================================
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/int8/gemm.hpp"
#include "kernels/int8/int8_kernels.hpp"
#include "kernels/int8/kernel_set.hpp"

#if defined(__x86_64__) || defined(_M_X64)
#define LLAMA2_QUANT_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif
#if defined(__aarch64__)
#define LLAMA2_QUANT_NEON 1
#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif
#endif

namespace llama2::int8::detail {

// The kernel set `make` builds, made on first use and kept for the process (a function-local
// static: never freed, so no leak at exit). Call it only on a CPU that has the set's
// instructions: MakeKernelSet is compiled for that target, and the compiler may use its
// instructions even to fill in the struct.
template <KernelSet (*make)(const char*)>
const KernelSet* kernel_set_once(const char* name) {
  static const KernelSet set = make(name);
  return &set;
}

#if LLAMA2_QUANT_X86

// Each block below compiles x86-inl.hpp for one instruction set. GCC takes the target
// from a pragma region; clang needs an attribute pushed onto every function of the region.
// ---- AVX-512 VNNI ----
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")
#endif
namespace avx512vnni {
#define LLAMA2_DPBUSD(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#define LLAMA2_QUANT_AVX512 1
#include "kernels/int8/x86-inl.hpp"
#undef LLAMA2_QUANT_AVX512
#undef LLAMA2_DPBUSD
}  // namespace avx512vnni
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

// ---- AVX-512 VNNI + VBMI ----
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi")
#endif
namespace avx512vbmi {
#define LLAMA2_DPBUSD(acc, u, s) _mm256_dpbusd_epi32(acc, u, s)
#define LLAMA2_QUANT_AVX512 1
#define LLAMA2_QUANT_VBMI 1
#include "kernels/int8/x86-inl.hpp"
#undef LLAMA2_QUANT_VBMI
#undef LLAMA2_QUANT_AVX512
#undef LLAMA2_DPBUSD
}  // namespace avx512vbmi
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

// ---- AVX-VNNI ----
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avxvnni"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avxvnni")
#endif
namespace avxvnni {
#define LLAMA2_DPBUSD(acc, u, s) _mm256_dpbusd_avx_epi32(acc, u, s)
#include "kernels/int8/x86-inl.hpp"
#undef LLAMA2_DPBUSD
}  // namespace avxvnni
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

// ---- AVX2 ----
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")
#endif
namespace avx2 {
#define LLAMA2_DPBUSD(acc, u, s) \
  _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)))
#include "kernels/int8/x86-inl.hpp"
#undef LLAMA2_DPBUSD
}  // namespace avx2
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

namespace {

struct CpuFeatures {
  bool avx2 = false, avx512vnni = false, avx512vbmi = false, avxvnni = false;
};

// CPUID bits, plus XGETBV to check that the OS saves the AVX / AVX-512 registers.
CpuFeatures detect() {
  CpuFeatures f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28), f16c = c & (1u << 29);
  if (!osxsave || !avx) return f;
  unsigned xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  const bool os_avx = (xcr0_lo & 0x6) == 0x6, os_avx512 = (xcr0_lo & 0xE6) == 0xE6;
  if (!os_avx || __get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = b & (1u << 5), avx512f = b & (1u << 16), avx512bw = b & (1u << 30),
             avx512vl = b & (1u << 31), avx512_vbmi = c & (1u << 1), avx512_vnni = c & (1u << 11);
  __cpuid_count(7, 1, a, b, c, d);
  const bool avx_vnni = a & (1u << 4);
  f.avx2 = avx2 && fma && f16c;
  f.avx512vnni = f.avx2 && os_avx512 && avx512f && avx512bw && avx512vl && avx512_vnni;
  f.avx512vbmi = f.avx512vnni && avx512_vbmi;
  f.avxvnni = f.avx2 && avx_vnni;
  return f;
}

}  // namespace

std::vector<const KernelSet*> simd_kernels() {
  static const std::vector<const KernelSet*> sets = [] {
    const CpuFeatures f = detect();
    std::vector<const KernelSet*> v;
    if (f.avx512vbmi) v.push_back(kernel_set_once<avx512vbmi::MakeKernelSet>("avx512vbmi"));
    if (f.avx512vnni) v.push_back(kernel_set_once<avx512vnni::MakeKernelSet>("avx512vnni"));
    if (f.avxvnni) v.push_back(kernel_set_once<avxvnni::MakeKernelSet>("avxvnni"));
    if (f.avx2) v.push_back(kernel_set_once<avx2::MakeKernelSet>("avx2"));
    return v;
  }();
  return sets;
}

#elif LLAMA2_QUANT_NEON

// ---- NEON + dot product ----
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("dotprod"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("arch=armv8.2-a+dotprod")  // what arm_neon.h declares vdotq_s32 with
#endif
namespace neon_dotprod {
#define LLAMA2_NEON_DOTPROD 1
#include "kernels/int8/neon-inl.hpp"
#undef LLAMA2_NEON_DOTPROD
}  // namespace neon_dotprod
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

// ---- NEON ----
namespace neon {
#define LLAMA2_NEON_DOTPROD 0
#include "kernels/int8/neon-inl.hpp"
#undef LLAMA2_NEON_DOTPROD
}  // namespace neon

namespace {
// Whether the CPU has sdot/udot: compiled in, Linux's HWCAP_ASIMDDP (bit 20), or Apple silicon.
bool has_dotprod() {
#if defined(__ARM_FEATURE_DOTPROD) || defined(__APPLE__)
  return true;
#elif defined(__linux__)
  return (getauxval(AT_HWCAP) & (1ul << 20)) != 0;
#else
  return false;
#endif
}
}  // namespace

std::vector<const KernelSet*> simd_kernels() {
  static const std::vector<const KernelSet*> sets = [] {  // made only where the CPU can run them
    std::vector<const KernelSet*> v;
    if (has_dotprod()) v.push_back(kernel_set_once<neon_dotprod::MakeKernelSet>("neon-dotprod"));
    v.push_back(kernel_set_once<neon::MakeKernelSet>("neon"));
    return v;
  }();
  return sets;
}

#else

std::vector<const KernelSet*> simd_kernels() { return {}; }

#endif

}  // namespace llama2::int8::detail
