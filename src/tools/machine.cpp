// Machine measurements for the rooflines of `llama2 bench`. The two inner loops are Highway
// kernels compiled for every SIMD target (like kernels/fp32/simd_ops.cpp), so the FMA peak is that
// of the widest vectors the CPU has: the ones the matmul kernels use.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "tools/machine.hpp"
#include "kernels/int8/int8_kernels.hpp"

// foreach_target.h includes this file once per target: shared constants need a guard.
#ifndef LLAMA2_TOOLS_MACHINE_CONSTANTS
#define LLAMA2_TOOLS_MACHINE_CONSTANTS
namespace llama2::tools {
// Independent FMA chains per thread. An FMA has a latency of ~4 cycles and modern cores issue
// two per cycle, so at least 8 chains are needed to keep both units busy; 12 accumulators
// plus 2 constants still fit AVX2's 16 vector registers.
inline constexpr int kFmaChains = 12;
}  // namespace llama2::tools
#endif

// clang-format off
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "tools/machine.cpp"
#include "kernels/fp32/simd_config.hpp"  // must precede every hwy header
#include "hwy/foreach_target.h"     // IWYU pragma: keep
#include "hwy/highway.h"
// clang-format on

HWY_BEFORE_NAMESPACE();
namespace llama2::tools::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Sum of p[0..n): four independent vector accumulators hide the add latency, so the loop is
// limited by how fast memory delivers the bytes.
float SumFloats(const float* HWY_RESTRICT p, std::size_t n) {
  const hn::ScalableTag<float> d;
  const std::size_t N = hn::Lanes(d);
  auto a0 = hn::Zero(d), a1 = hn::Zero(d), a2 = hn::Zero(d), a3 = hn::Zero(d);
  std::size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = hn::Add(a0, hn::LoadU(d, p + i));
    a1 = hn::Add(a1, hn::LoadU(d, p + i + N));
    a2 = hn::Add(a2, hn::LoadU(d, p + i + 2 * N));
    a3 = hn::Add(a3, hn::LoadU(d, p + i + 3 * N));
  }
  float total = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; i < n; ++i) total += p[i];
  return total;
}

// kFmaChains independent chains of `iterations` fused multiply-adds each.
float FmaChains(std::size_t iterations, float seed) {
  const hn::ScalableTag<float> d;
  // acc <- acc * m + a converges to a / (1 - m): values stay finite however long it runs, and
  // the seed (unknown to the compiler) keeps the loop from being folded away.
  const auto m = hn::Set(d, 0.999f), a = hn::Set(d, seed * 1e-3f);
  decltype(hn::Zero(d)) acc[kFmaChains];
  for (int c = 0; c < kFmaChains; ++c) acc[c] = hn::Set(d, seed + static_cast<float>(c));
  for (std::size_t i = 0; i < iterations; ++i) {
    for (int c = 0; c < kFmaChains; ++c) acc[c] = hn::MulAdd(acc[c], m, a);
  }
  auto total = acc[0];
  for (int c = 1; c < kFmaChains; ++c) total = hn::Add(total, acc[c]);
  return hn::GetLane(hn::SumOfLanes(d, total));
}

std::size_t FloatLanes() { return hn::Lanes(hn::ScalableTag<float>()); }

}  // namespace llama2::tools::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace llama2::tools {

HWY_EXPORT(SumFloats);
HWY_EXPORT(FmaChains);
HWY_EXPORT(FloatLanes);

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Keeps results "used" so the measured loops cannot be optimised away.
volatile float g_sink = 0;

// Adds the per-thread results to g_sink (each thread writes only its own slot: no race).
void sink(const std::vector<float>& per_thread) {
  float total = 0;
  for (float v : per_thread) total += v;
  g_sink = g_sink + total;
}

// The value of a "Key:   value" line of a /proc text file, or "".
std::string proc_field(const char* file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
    if (name != key) continue;
    const auto start = line.find_first_not_of(" \t", colon + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

std::uint64_t status_kib(const char* key) {
  const std::string v = proc_field("/proc/self/status", key);  // "12345 kB"
  return v.empty() ? 0 : std::stoull(v) * 1024;
}

}  // namespace

std::string cpu_model_name() {
  for (const char* key : {"model name", "Hardware", "Processor"}) {
    const std::string v = proc_field("/proc/cpuinfo", key);
    if (!v.empty()) return v;
  }
  return "unknown CPU";
}

namespace {
// Slice [begin, end) of an n-float buffer read by thread `index` of `count`: a whole number of
// cache lines each.
void bandwidth_slice(std::size_t n, int index, int count, std::size_t& begin, std::size_t& end) {
  const std::size_t per = (n / count + 15) / 16 * 16;
  begin = std::min(n, index * per);
  end = index + 1 == count ? n : std::min(n, begin + per);
}
}  // namespace

ReadBandwidthProbe::ReadBandwidthProbe(ThreadPool& pool, std::size_t bytes) {
  data_.resize(std::max<std::size_t>(bytes / sizeof(float), 1024));
#if defined(__linux__)
  // A hint, so failure is harmless. madvise wants whole pages; only the 2 MB-aligned part of
  // the range can get huge pages.
  const long page_size = sysconf(_SC_PAGESIZE);
  if (page_size > 0) {
    const auto page = static_cast<std::uintptr_t>(page_size);
    const auto begin = reinterpret_cast<std::uintptr_t>(data_.data());
    const std::uintptr_t lo = (begin + page - 1) & ~(page - 1);
    const std::uintptr_t hi = (begin + data_.size() * sizeof(float)) & ~(page - 1);
    if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
  }
#endif
  // Touch every page (from the thread that will read it), with values that stay exact.
  float* data = data_.data();
  const std::size_t n = data_.size();
  pool.run([&](int index, int count) {
    std::size_t b, e;
    bandwidth_slice(n, index, count, b, e);
    for (std::size_t i = b; i < e; ++i) data[i] = static_cast<float>(i & 7);
  });
}

double ReadBandwidthProbe::measure(ThreadPool& pool, int repeats) const {
  const float* data = data_.data();
  const std::size_t n = data_.size();
  std::vector<float> results(pool.size());
  double best = 0;
  for (int r = 0; r < std::max(1, repeats); ++r) {
    const auto t0 = Clock::now();
    pool.run([&](int index, int count) {
      std::size_t b, e;
      bandwidth_slice(n, index, count, b, e);
      results[index] = HWY_DYNAMIC_DISPATCH(SumFloats)(data + b, e - b);
    });
    const double t = seconds_since(t0);
    sink(results);
    if (t > 0) best = std::max(best, static_cast<double>(n * sizeof(float)) / t);
  }
  return best;
}

std::uint64_t ReadBandwidthProbe::resident_bytes() const {
  const std::uint64_t bytes = data_.size() * sizeof(float);
#if defined(__linux__)
  // mincore needs a page-aligned start: count from the page holding the first byte, and clip
  // the first and last pages to the buffer.
  const long page_size = sysconf(_SC_PAGESIZE);
  if (page_size <= 0) return bytes;
  const std::uint64_t page = static_cast<std::uint64_t>(page_size);
  const auto begin = reinterpret_cast<std::uintptr_t>(data_.data()), end = begin + bytes;
  const std::uintptr_t first = begin & ~(page - 1);
  std::vector<unsigned char> in_core((end - first + page - 1) / page);
  if (mincore(reinterpret_cast<void*>(first), end - first, in_core.data()) != 0) return bytes;
  std::uint64_t resident = 0;
  for (std::size_t i = 0; i < in_core.size(); ++i) {
    if (!(in_core[i] & 1)) continue;
    const std::uint64_t lo = std::max<std::uint64_t>(first + i * page, begin);
    const std::uint64_t hi = std::min<std::uint64_t>(first + (i + 1) * page, end);
    resident += hi - lo;
  }
  return resident;
#else
  return bytes;
#endif
}

namespace {
// The best rate of `repeats` runs of run(iterations, thread) on every thread of the pool, each
// run lasting about `seconds` (calibrated on one thread: the iterations double until a run lasts a
// tenth of that); `ops` is the count one iteration does on one thread.
template <class Run>
double best_rate(ThreadPool& pool, double seconds, int repeats, double ops, Run run) {
  std::size_t iterations = 1 << 12;
  for (;;) {
    const auto t0 = Clock::now();
    g_sink = g_sink + run(iterations, 0);
    const double t = seconds_since(t0);
    if (t >= seconds / 10 || iterations >= (std::size_t{1} << 34)) {
      iterations = static_cast<std::size_t>(static_cast<double>(iterations) * seconds / std::max(t, 1e-9));
      break;
    }
    iterations *= 2;
  }
  iterations = std::max<std::size_t>(iterations, 1024);
  std::vector<float> results(pool.size());
  double best = 0;
  for (int r = 0; r < std::max(1, repeats); ++r) {
    const auto t0 = Clock::now();
    pool.run([&](int index, int) { results[index] = run(iterations, index); });
    const double t = seconds_since(t0);
    sink(results);
    if (t > 0) best = std::max(best, ops * static_cast<double>(iterations) * pool.size() / t);
  }
  return best;
}
}  // namespace

double measure_peak_flops(ThreadPool& pool, double seconds, int repeats) {
  const double lanes = static_cast<double>(HWY_DYNAMIC_DISPATCH(FloatLanes)());
  return best_rate(pool, seconds, repeats, 2.0 * lanes * kFmaChains, [](std::size_t iterations, int index) {
    return HWY_DYNAMIC_DISPATCH(FmaChains)(iterations, 1.0f + static_cast<float>(index));
  });
}

double measure_peak_int8_ops(ThreadPool& pool, double seconds, int repeats) {
  const int8::DotProbe probe = int8::dot_probe();
  if (probe.run == nullptr) return 0;
  return best_rate(pool, seconds, repeats, 2.0 * probe.macs_per_iteration, [&](std::size_t iterations, int index) {
    return static_cast<float>(probe.run(static_cast<std::int64_t>(iterations), index + 1));
  });
}

std::uint64_t current_rss_bytes() { return status_kib("VmRSS"); }
std::uint64_t peak_rss_bytes() { return status_kib("VmHWM"); }

}  // namespace llama2::tools
#endif  // HWY_ONCE
