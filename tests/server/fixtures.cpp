// Makes the files the server tests run on, so they need nothing but ../shared:
//   llama2_server_fixtures tokenizer IN OUT N    the first N entries of a tokenizer.bin
//   llama2_server_fixtures random-model SHAPE OUT [SEED]   a random-weight checkpoint (15M, 42M, ...)
// stories260K has a vocabulary of 512 and no tokenizer in ../shared; the first 512 entries of
// the Llama tokenizer make a valid (if meaningless) one, enough to test text in and out.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "format/random_checkpoint.hpp"

namespace {

int truncate_tokenizer(const std::string& in, const std::string& out, int n) {
  std::ifstream f(in, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // Layout: int32 max_token_length, then per entry float score, int32 length, bytes.
  std::size_t off = 4;
  for (int i = 0; i < n; ++i) {
    std::int32_t len = 0;
    if (off + 8 > bytes.size()) throw std::runtime_error(in + ": fewer than " + std::to_string(n) + " entries");
    std::memcpy(&len, bytes.data() + off + 4, 4);
    if (len < 0 || off + 8 + len > bytes.size()) throw std::runtime_error(in + ": malformed entry");
    off += 8 + static_cast<std::size_t>(len);
  }
  std::ofstream(out, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(off));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string cmd = argc > 1 ? argv[1] : "";
    if (cmd == "tokenizer" && argc == 5) return truncate_tokenizer(argv[2], argv[3], std::stoi(argv[4]));
    if (cmd == "random-model" && (argc == 4 || argc == 5)) {
      llama2::write_random_checkpoint(argv[3], llama2::published_shape(argv[2]), /*shared_classifier=*/true,
                                      argc == 5 ? std::stoull(argv[4]) : 42);
      return 0;
    }
    std::fprintf(stderr, "usage: %s tokenizer IN OUT N | random-model SHAPE OUT [SEED]\n", argv[0]);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
