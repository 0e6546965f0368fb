// What the machine can do at best: the rooflines `llama2 bench` compares its results with.
//
// Token generation reads every weight once per token, so its ceiling is memory bandwidth;
// prompt processing reuses each weight across the batch, so its ceiling is FMA throughput.
// Both are measured here rather than taken from a data sheet, with the same thread pool the
// engine uses, so "% of roofline" means "of what this machine does for us right now".
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/thread_pool.hpp"
#include "core/zeroed_allocator.hpp"

namespace llama2::tools {

// The CPU's marketing name from /proc/cpuinfo ("model name", or "Hardware"/"Processor" on
// Arm), or "unknown CPU".
std::string cpu_model_name();

// A buffer for read-bandwidth measurements, faulted in once and kept, so that the bandwidth
// can be read again right beside each measurement it is the roofline of.
//
// Why again: on a shared host the memory bandwidth a guest gets moves within seconds. On this
// project's VM a 2-thread reading went from ~42 to ~75 GB/s and back between runs a few seconds
// apart, and a model that streamed its weights at 67 GB/s was reported as 160 % of a 42 GB/s
// reading taken at start-up. Why kept: faulting 1 GiB in 4 KB at a time takes seconds there.
class ReadBandwidthProbe {
 public:
  // `bytes` well beyond the last-level cache (the default 1 GiB), so that readings are DRAM's,
  // not a cache's. Asks for 2 MB pages where the system has them, like the model's weights
  // (see MappedFile::prefer_huge_pages), so TLB misses do not lower the ceiling. Each pool
  // thread first touches the slice it will read.
  explicit ReadBandwidthProbe(ThreadPool& pool, std::size_t bytes = std::size_t{1} << 30);

  // Read bandwidth in bytes/s: the best of `repeats` passes summing the buffer with every
  // thread of the pool (each its own contiguous slice, vectorised).
  double measure(ThreadPool& pool, int repeats) const;

  // Bytes of the buffer that are resident now, so that a resident-memory figure can leave the
  // probe out.
  std::uint64_t resident_bytes() const;

 private:
  std::vector<float, ZeroedAllocator<float>> data_;
};

// Peak fp32 FLOP/s (an FMA counts 2): the best of `repeats` runs of independent FMA chains on
// the widest SIMD target, on every thread of the pool; each run lasts about `seconds`.
double measure_peak_flops(ThreadPool& pool, double seconds = 0.05, int repeats = 5);

// Peak int8 multiply-add rate of the quantized kernels' batch GEMM, in ops/s (a multiply-add
// counts 2, like an FMA): the same kind of run as measure_peak_flops, over the kernel set's own
// instruction (vpdpbusd). 0 where the active set has no GEMM.
double measure_peak_int8_ops(ThreadPool& pool, double seconds = 0.05, int repeats = 5);

// Resident set size of this process now and at its peak (VmRSS / VmHWM), in bytes; 0 where
// /proc/self/status is unavailable.
std::uint64_t current_rss_bytes();
std::uint64_t peak_rss_bytes();

}  // namespace llama2::tools
