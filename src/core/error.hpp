// Errors cross the library boundary as exceptions carrying one clear, user-facing line.
// The CLI turns them into "error: <message>" and exit status 1 (UsageError: status 2).
#pragma once
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

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

}  // namespace llama2
