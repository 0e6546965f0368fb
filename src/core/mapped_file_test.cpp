#include "core/mapped_file.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "core/error.hpp"
#include "test_support.hpp"

namespace llama2 {
namespace {

// Deterministic bytes that differ at every position a wrong offset could land on.
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  for (std::size_t i = 0; i < n; ++i) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    s[i] = static_cast<char>(x >> 56);
  }
  return s;
}

bool same_bytes(const MappedFile& f, const std::string& expected) {
  return f.size() == expected.size() && std::memcmp(f.bytes().data(), expected.data(), expected.size()) == 0;
}

// Whichever path the machine takes (a file just written may sit in the page cache in small or
// large folios; the file system may or may not cache large folios; there may be no transparent
// huge pages), the bytes must be the file's, also after a move, and an odd size must not lose
// the tail.
TEST(MappedFile, PreferHugePagesKeepsTheBytes) {
  const std::string bytes = pattern((std::size_t{20} << 20) + 12345);
  const std::string path = testing::write_scratch("huge_pages.bin", bytes);
  MappedFile file(path);
  const HugePages done = file.prefer_huge_pages();
  const char* names[] = {"as mapped", "re-read", "copied"};
  RecordProperty("huge_pages", names[static_cast<int>(done)]);
  EXPECT_TRUE(same_bytes(file, bytes)) << names[static_cast<int>(done)];
  if (done == HugePages::kCopied) {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(file.bytes().data()) % (std::uintptr_t{2} << 20), 0u);
  }
  file.prefer_huge_pages();  // a second call may copy again (if huge pages ran out), never lose bytes
  EXPECT_TRUE(same_bytes(file, bytes));
  MappedFile moved(std::move(file));
  EXPECT_TRUE(same_bytes(moved, bytes));
}

// Each remedy on its own (which one prefer_huge_pages picks depends on the machine).
TEST(MappedFile, RereadAndCopyKeepTheBytes) {
  const std::string bytes = pattern((std::size_t{18} << 20) + 777);
  MappedFile file(testing::write_scratch("huge_remedies.bin", bytes));
  const bool reread = file.reread_into_huge_pages();
  EXPECT_TRUE(same_bytes(file, bytes)) << "re-read: " << reread;
  const bool copied = file.copy_into_huge_pages();
  EXPECT_TRUE(same_bytes(file, bytes)) << "copied: " << copied;
  if (copied) {
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(file.bytes().data()) % (std::uintptr_t{2} << 20), 0u);
    EXPECT_FALSE(file.reread_into_huge_pages());  // a copy is never dropped (it would read as zeros)
    EXPECT_EQ(file.prefer_huge_pages(), HugePages::kAsMapped);
    EXPECT_TRUE(same_bytes(file, bytes));
  }
  MappedFile moved(std::move(file));
  EXPECT_TRUE(same_bytes(moved, bytes));
  if (copied) {
    EXPECT_FALSE(moved.reread_into_huge_pages());
  }
}

TEST(MappedFile, SmallFilesStayMapped) {
  const std::string bytes = pattern(100000);
  MappedFile file(testing::write_scratch("small_map.bin", bytes));
  EXPECT_EQ(file.prefer_huge_pages(), HugePages::kAsMapped);
  EXPECT_TRUE(same_bytes(file, bytes));
}

TEST(MappedFile, MissingAndEmptyFilesAreErrors) {
  EXPECT_THROW(MappedFile(testing::scratch_dir() + "/no_such_file.bin"), Error);
  EXPECT_THROW(MappedFile(testing::write_scratch("empty_map.bin", "")), Error);
}

}  // namespace
}  // namespace llama2
