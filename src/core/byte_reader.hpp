// Bounds-checked sequential reading of a byte buffer, for file parsers. Every read checks
// the remaining size first, so a truncated or hostile file yields an Error, never a read
// past the end.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "core/error.hpp"

namespace llama2 {

class ByteReader {
 public:
  ByteReader(std::span<const std::byte> bytes, std::string what)
      : bytes_(bytes), what_(std::move(what)) {}

  std::uint64_t offset() const { return pos_; }
  std::uint64_t remaining() const { return bytes_.size() - pos_; }
  void seek(std::uint64_t offset) {
    if (offset > bytes_.size()) fail("offset " + std::to_string(offset) + " is past the end");
    pos_ = offset;
  }

  // Returns a pointer to the next `n` bytes and advances past them.
  const std::byte* take(std::uint64_t n, const char* field) {
    if (n > remaining())
      fail("truncated: " + std::string(field) + " needs " + std::to_string(n) + " bytes at offset " +
           std::to_string(pos_) + ", file has " + std::to_string(remaining()) + " left");
    const std::byte* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }

  template <class T>
  T read(const char* field) {
    T value;
    std::memcpy(&value, take(sizeof(T), field), sizeof(T));
    return value;
  }

  [[noreturn]] void fail(const std::string& msg) const { throw Error(what_ + ": " + msg); }

 private:
  std::span<const std::byte> bytes_;
  std::string what_;
  std::uint64_t pos_ = 0;
};

}  // namespace llama2
