#include "core/zeroed_allocator.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <vector>

namespace llama2 {
namespace {

using Floats = std::vector<float, ZeroedAllocator<float>>;

TEST(ZeroedAllocator, FreshVectorsAreZeroAtEverySize) {
  for (std::size_t n : {std::size_t{1}, std::size_t{1000}, std::size_t{70000}, std::size_t{3} << 20}) {
    // Dirty the heap first, so a calloc'd block that reuses it must still come back zero.
    { std::vector<float> dirt(n, 7.0f); }
    Floats v;
    v.resize(n);
    EXPECT_TRUE(std::all_of(v.begin(), v.end(), [](float x) { return x == 0.0f; })) << n;
    v[n - 1] = 1.5f;  // writable to the end
    Floats copy = v;
    EXPECT_EQ(copy, v);
  }
}

#if defined(__linux__)
// Resident set size from /proc/self/statm (pages), in bytes.
std::int64_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * 4096;
}

// A big block costs no memory until it is written: 256 MiB sized, one value written per MiB.
TEST(ZeroedAllocator, BigBlocksAreNotFaultedInUntilWritten) {
  const std::int64_t before = resident_bytes();
  Floats v;
  v.resize(std::size_t{64} << 20);  // 256 MiB of floats
  const std::int64_t after_resize = resident_bytes();
  EXPECT_LT(after_resize - before, std::int64_t{16} << 20);
  for (std::size_t i = 0; i < v.size(); i += std::size_t{1} << 18) v[i] = 1.0f;
  EXPECT_EQ(v[std::size_t{1} << 18], 1.0f);
  EXPECT_EQ(v[1], 0.0f);
}
#endif

}  // namespace
}  // namespace llama2
