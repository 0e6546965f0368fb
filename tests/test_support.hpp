// Shared helpers for tests: where the test data lives, scratch files, running the CLI.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/types.hpp"
#include "dtype/dtype.hpp"

namespace llama2::testing {

// ../shared beside the repo root, or $LLAMA2_TEST_DATA.
std::string data_dir();
// data_dir() + "/" + relative
std::string data_path(const std::string& relative);
// A fresh folder under the build tree for files a test generates.
std::string scratch_dir();
// Writes bytes to scratch_dir()/name and returns the full path.
std::string write_scratch(const std::string& name, const std::string& bytes);

// Values like a weight row: mostly small, a few larger, occasionally (1 %) an outlier at 8x.
std::vector<float> weights_like(std::size_t n, std::uint32_t seed, float scale = 0.05f);
// Random bytes for `blocks` blocks of ggml block type t, with every fp16 scale set to a small
// finite value: they reach every code (Q8_0's -128, Q6_K's negative sub-scales, ...).
std::vector<std::uint8_t> random_blocks(DType t, int blocks, std::uint32_t seed);

// Path of the built `llama2` binary.
std::string cli_path();
struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs the CLI with `args` (already shell-quoted) and optional stdin text, with a timeout.
CommandResult run_cli(const std::string& args, const std::string& stdin_text = "", int timeout_s = 120);
// Shell-quotes one argument.
std::string quote(const std::string& s);

// Parses space/comma separated integers.
std::vector<TokenId> parse_ids(const std::string& text);

// Writes a deterministic random-weight version 0 checkpoint with the given shape and returns
// its path (kept in scratch_dir()). n_kv_heads < n_heads gives grouped-query attention;
// a negative vocab marks an unshared classifier, as in the format.
std::string write_random_checkpoint_v0(const std::string& name, int dim, int hidden_dim, int n_layers,
                                       int n_heads, int n_kv_heads, int vocab_size, int seq_len,
                                       std::uint64_t seed = 42);

}  // namespace llama2::testing
