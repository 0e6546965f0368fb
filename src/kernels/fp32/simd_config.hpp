// Which Highway targets the SIMD back end is compiled for. Include this before any hwy header
// in every file that dispatches (simd_ops.cpp) or enumerates targets (the kernel tests), so
// both agree on the set.
//
// Kept: AVX3 (AVX-512), AVX2, SSE4, NEON and the portable baseline (EMU128, or SCALAR with
// GCC < 12.3, where Highway avoids EMU128 because of a compiler bug). Dropped:
//  - SSSE3: CPUs with SSSE3 but no SSE4 are 2007-era; not worth one more copy of every kernel.
//  - SVE/SVE2: the register-tile kernels keep arrays of vectors, which sizeless SVE vector
//    types do not allow; Arm machines with SVE still get NEON.
// AVX3_DL (VNNI etc.) is left to Highway's default (off): fp32 kernels gain nothing from it.
#pragma once

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SSSE3 | HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128)
#endif
