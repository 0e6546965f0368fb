#include "test_support.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "core/mapped_file.hpp"
#include "dtype/blocks.hpp"
#include "dtype/codec.hpp"
#include "format/random_checkpoint.hpp"

namespace llama2::testing {

std::vector<float> weights_like(std::size_t n, std::uint32_t seed, float scale) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng) < 0.01f ? 8.0f * normal(rng) : normal(rng);
  return v;
}

std::vector<std::uint8_t> random_blocks(DType t, int blocks, std::uint32_t seed) {
  const int bytes = static_cast<int>(dtype_block_bytes(t));
  std::mt19937 rng(seed);
  std::vector<std::uint8_t> v(static_cast<std::size_t>(blocks) * bytes);
  for (auto& b : v) b = static_cast<std::uint8_t>(rng());
  std::uniform_real_distribution<float> scale(-0.01f, 0.01f);
  for (int i = 0; i < blocks; ++i) {
    std::uint8_t* b = v.data() + i * bytes;
    auto set = [&](int offset) { blocks::store_u16(b + offset, quant::f32_to_f16(scale(rng))); };
    if (t == DType::Q6_K) {
      set(208);
    } else {
      set(0);
      if (t != DType::Q8_0 && t != DType::Q4_0) set(2);
    }
  }
  return v;
}


std::string data_dir() {
  if (const char* env = std::getenv("LLAMA2_TEST_DATA"); env && *env) return env;
  return LLAMA2_DEFAULT_TEST_DATA;
}

std::string data_path(const std::string& relative) { return data_dir() + "/" + relative; }

// One folder per test process, removed when the process exits. ctest runs tests in parallel
// processes, and a shared folder let one test rewrite a file (same name) that another test
// had memory-mapped, which kills the reader with SIGBUS.
// (Never destroyed, so the exit handler can still read it.)
std::string scratch_dir() {
  static const std::string* const dir = [] {
    const auto* d = new std::string(std::string(LLAMA2_SCRATCH_DIR) + "/p" + std::to_string(::getpid()));
    std::filesystem::create_directories(*d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*dir, ec);
    });
    return d;
  }();
  return *dir;
}

std::string write_scratch(const std::string& name, const std::string& bytes) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string cli_path() { return LLAMA2_CLI_PATH; }

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CommandResult run_cli(const std::string& args, const std::string& stdin_text, int timeout_s) {
  static int counter = 0;
  const std::string base = scratch_dir() + "/cli" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
  const std::string in = base + ".in", out = base + ".out", err = base + ".err";
  std::ofstream(in, std::ios::binary) << stdin_text;
  const std::string emulator = LLAMA2_CLI_EMULATOR;  // empty unless cross-built
  const std::string cmd = "timeout " + std::to_string(timeout_s) + " " + (emulator.empty() ? "" : emulator + " ") +
                          quote(cli_path()) + " " + args + " <" +
                          quote(in) + " >" + quote(out) + " 2>" + quote(err);
  const int status = std::system(cmd.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out);
  r.err = read_file(err);
  std::filesystem::remove(in);
  std::filesystem::remove(out);
  std::filesystem::remove(err);
  return r;
}

std::vector<TokenId> parse_ids(const std::string& text) {
  std::vector<TokenId> ids;
  std::string t = text;
  for (char& c : t)
    if (c == ',') c = ' ';
  std::istringstream ss(t);
  long v;
  while (ss >> v) ids.push_back(static_cast<TokenId>(v));
  return ids;
}

std::string write_random_checkpoint_v0(const std::string& name, int dim, int hidden_dim, int n_layers,
                                       int n_heads, int n_kv_heads, int vocab_size, int seq_len,
                                       std::uint64_t seed) {
  Config c;
  c.dim = dim, c.hidden_dim = hidden_dim, c.n_layers = n_layers, c.n_heads = n_heads;
  c.n_kv_heads = n_kv_heads, c.vocab_size = vocab_size < 0 ? -vocab_size : vocab_size, c.seq_len = seq_len;
  const std::string path = scratch_dir() + "/" + name;
  write_random_checkpoint(path, c, vocab_size > 0, seed);
  return path;
}

}  // namespace llama2::testing
