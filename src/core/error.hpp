// Errors cross the library boundary as exceptions carrying one clear, user-facing line.
// The CLI turns them into "error: <message>" and exit status 1 (UsageError: status 2).
#pragma once
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

namespace llama2 {

// Something about the input (file, request, data) is wrong. Exit status 1.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The command line itself is wrong. Exit status 2.
class UsageError : public Error {
 public:
  using Error::Error;
};

// Overflow-checked size arithmetic for parsers: every size derived from a file header goes
// through these before it is compared with the file size or used to touch memory.
inline std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, const char* what) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a)
    throw Error(std::string("size overflow computing ") + what);
  return a * b;
}
inline std::uint64_t checked_add(std::uint64_t a, std::uint64_t b, const char* what) {
  if (b > std::numeric_limits<std::uint64_t>::max() - a)
    throw Error(std::string("size overflow computing ") + what);
  return a + b;
}

// A string from a file, fit to quote in an error message: control bytes become \xNN (a NUL
// would end the message early, an escape sequence would reach the user's terminal), and a
// long one is cut to its first 64 bytes.
inline std::string printable(std::string_view text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char ch : text.substr(0, 64)) {
    const auto b = static_cast<unsigned char>(ch);
    if (b < 0x20 || b == 0x7f) out += std::string("\\x") + kHex[b >> 4] + kHex[b & 15];
    else out += ch;
  }
  if (text.size() > 64) out += "...";
  return out;
}

}  // namespace llama2
