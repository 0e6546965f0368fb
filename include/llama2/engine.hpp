// llama2::Engine: the embeddable face of llama2-cpp. One object opens a model (llama2.c .bin
// or GGUF) and its tokenizer, and turns text into tokens and prompts into generated text.
//
// Self-contained on purpose: this header (with llama2/export.h) is the installed C++ API, so
// it includes no internal header; the model, tokenizer and thread pool live behind a pointer.
// The full internal API (custom loops, chat, the server's pieces) is include/llama2.hpp, used
// from inside the source tree.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "llama2/export.h"

namespace llama2 {

// A token id in the model's vocabulary; the same type as core/types.hpp's (an alias may be
// declared twice, so code that includes both sees one type).
using TokenId = std::int32_t;

struct GenerateOptions {
  int steps = 256;           // positions to run, prompt included; 0 = the model's whole context
  float temperature = 1.0f;  // 0 = greedy
  float topp = 0.9f;         // nucleus sampling mass; 0 or 1 = off
  std::uint64_t seed = 0;    // 0 = from the clock
};

// Receives each printable piece of text as it is produced (prompt pieces first, as the CLI
// prints them). Returning false stops the generation after that piece.
using PieceCallback = std::function<bool(std::string_view piece)>;

struct Generation {
  std::string text;             // every printable piece, concatenated: what `llama2` prints
  std::vector<TokenId> tokens;  // the prompt's ids (BOS first), then the generated ids
  bool stopped = false;         // true if the callback returned false
};

// Not thread-safe: one Engine runs one generation at a time (it owns one thread pool). Every
// failure throws std::runtime_error with a one-line message.
class LLAMA2_API Engine {
 public:
  // `tokenizer_path` empty: the model's own vocabulary (GGUF); a llama2.c .bin model needs a
  // tokenizer.bin. `threads` <= 0: one per core.
  explicit Engine(const std::string& model_path, const std::string& tokenizer_path = "", int threads = 0);
  ~Engine();
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  // Encodes text as plain text (special tokens spelled in it are not parsed).
  std::vector<TokenId> tokenize(std::string_view text, bool bos = true, bool eos = false) const;
  // The text of `tokens` (BOS/EOS add nothing; the leading space after BOS is dropped).
  // Throws for an id outside the vocabulary.
  std::string detokenize(std::span<const TokenId> tokens) const;

  // Tokenizes `prompt` as the CLI does (BOS if the vocabulary adds one, special tokens parsed)
  // and generates until options.steps positions, one of the vocabulary's end-of-generation
  // tokens (BOS for llama2.c models), or the callback returns false.
  Generation generate(std::string_view prompt, const GenerateOptions& options = {},
                      const PieceCallback& on_piece = {});

  int vocab_size() const;
  int context_length() const;  // the model's seq_len: the most steps a generation can run
  int threads() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llama2
