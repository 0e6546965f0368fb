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

#include "core/thread_pool.hpp"

namespace llama2::tools {

// The CPU's marketing name from /proc/cpuinfo ("model name", or "Hardware"/"Processor" on
// Arm), or "unknown CPU".
std::string cpu_model_name();

// Read bandwidth in bytes/s: the best of `repeats` passes summing a `bytes`-sized buffer with
// every thread of the pool (each its own contiguous slice, vectorised). Use a buffer well
// beyond the last-level cache (the default 1 GiB) so the result is DRAM's, not a cache's.
double measure_read_bandwidth(ThreadPool& pool, std::size_t bytes = std::size_t{1} << 30, int repeats = 5);

// Peak fp32 FLOP/s (an FMA counts 2): the best of `repeats` runs of independent FMA chains on
// the widest SIMD target, on every thread of the pool; each run lasts about `seconds`.
double measure_peak_flops(ThreadPool& pool, double seconds = 0.05, int repeats = 5);

// Resident set size of this process now and at its peak (VmRSS / VmHWM), in bytes; 0 where
// /proc/self/status is unavailable.
std::uint64_t current_rss_bytes();
std::uint64_t peak_rss_bytes();

}  // namespace llama2::tools
