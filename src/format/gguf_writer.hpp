// Writing GGUF files, and the model conversions built on it: any loaded Model -> GGUF in a
// chosen weight type, GGUF (or any Model) -> llama2.c version 0, and random-weight GGUF
// models of a published shape written straight in a quantized type.
#pragma once
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "format/gguf.hpp"
#include "model/model.hpp"

namespace llama2 {

// Collects metadata and tensor declarations, then streams the file out in one pass. Tensor
// bytes are produced on demand by a fill callback, one tensor at a time, so a model larger
// than memory (in fp32) can be written quantized.
class GgufWriter {
 public:
  // `alignment` must be a multiple of 8; it is always recorded as general.alignment.
  explicit GgufWriter(std::uint32_t alignment = kGgufDefaultAlignment);

  void add_uint32(std::string_view key, std::uint32_t v);
  void add_int32(std::string_view key, std::int32_t v);
  void add_uint64(std::string_view key, std::uint64_t v);
  void add_float32(std::string_view key, float v);
  void add_bool(std::string_view key, bool v);
  void add_string(std::string_view key, std::string_view v);
  void add_string_array(std::string_view key, const std::vector<std::string>& v);
  void add_float32_array(std::string_view key, std::span<const float> v);
  void add_int32_array(std::string_view key, std::span<const std::int32_t> v);

  // Fills exactly the tensor's bytes (rows of ne[0] values in `type`'s layout).
  using Fill = std::function<void(std::span<std::byte> out)>;
  // `dims` fastest first (ne[0] = columns), as GGUF lists them; ne[0] must be a multiple of
  // the type's block size.
  void add_tensor(std::string name, DType type, std::vector<std::uint64_t> dims, Fill fill);

  // Writes the file; throws Error if the stream fails.
  void write(std::ostream& out) const;
  void write_file(const std::string& path) const;

 private:
  struct TensorDecl {
    std::string name;
    DType type;
    std::vector<std::uint64_t> dims;
    std::uint64_t bytes;
    Fill fill;
  };
  void key(std::string_view k, GgufValueType type);

  std::uint32_t alignment_;
  std::uint64_t n_kv_ = 0;
  std::string metadata_;  // serialized key/value pairs
  std::vector<std::string> keys_;
  std::vector<TensorDecl> tensors_;
};

// Encodes one row of n fp32 values as `type` into out (row_bytes of that type).
// Block types need n to be a multiple of their block size.
void encode_row(DType type, const float* in, void* out, std::int64_t n);

// The type a [rows, cols] matrix is stored in when `wanted` cannot hold rows of `cols`
// values (cols not a multiple of its block): the nearest block-32 type, or F16.
DType storage_type(DType wanted, std::int64_t cols);

// One per-tensor exception to GgufExportOptions::type, as llama.cpp's `--tensor-type`: every
// matrix whose GGUF name ("blk.3.attn_v.weight", "token_embd.weight") contains a match of the
// ECMAScript regular expression `pattern` is stored in `type`. The first matching rule wins.
struct TensorTypeRule {
  std::string pattern;
  DType type;
};

struct GgufExportOptions {
  DType type = DType::F32;                // matrices; 1-D norm weights always stay F32
  std::vector<TensorTypeRule> tensor_types;  // exceptions for some matrices, first match wins
  std::string name;                       // general.name
  const Vocabulary* vocabulary = nullptr;  // embedded as tokenizer.ggml.* when given
};

// Throws Error, as write_gguf_model would, for a rule that is not a regular expression or
// matches no matrix of `model`: for callers that want to fail before printing anything.
void check_tensor_type_rules(const Model& model, const std::vector<TensorTypeRule>& rules);

// Writes `model` as a GGUF llama file. Returns one note per tensor whose type had to differ
// from the one asked (see storage_type), and one per matrix a tensor_types rule changed, for
// the user. Throws Error for a pattern that is not a regular expression or matches no matrix.
std::vector<std::string> write_gguf_model(const Model& model, const std::string& path, const GgufExportOptions& options);

// Writes `model` as a llama2.c version 0 checkpoint (fp32, weights dequantized). Throws Error
// if the model uses a RoPE base or RMS epsilon that version 0 (which hard-codes 10000 and
// 1e-5) cannot express.
void write_llama2c_v0(const Model& model, const std::string& path);

// Writes a vocabulary as llama2.c's tokenizer.bin.
void write_tokenizer_bin(const Vocabulary& vocabulary, const std::string& path);

// A published model's exact shape, for random-weight files.
struct RandomShape {
  Config config;
  bool tied_classifier = false;  // no output.weight: the classifier is the embedding
  std::vector<float> rope_freqs;  // Llama 3.1+ RoPE frequency factors [head_size/2], or empty
};
// The shapes of TinyLlama-1.1B ("tinyllama"), SmolLM2-135M/-360M, Llama-3.2-1B (with its
// RoPE factors), Qwen2.5-0.5B (q/k/v biases) and Qwen3-0.6B (q/k norms, head_dim 128), from
// their config.json; "micro", "micro-llama3", "micro-qwen2", "micro-qwen3" are dim-64,
// 2-layer models with each architecture's features, for tests (their vocab becomes the
// vocabulary's). Throws UsageError for other names.
RandomShape gguf_random_shape(const std::string& name);
// The names gguf_random_shape knows.
std::vector<std::string> gguf_random_shape_names();

// Writes a GGUF model of shape `config` with deterministic random weights (seeded), scaled
// like a trained model's, quantized row by row straight into `type`: no fp32 copy of the
// model ever exists, so a 1B model needs only a few tensors' worth of memory.
// `output_gain` widens the blocks' output projections (attn_output, ffn_down): at the default 8
// a random model's next token depends on its context (at 1, plain 1/sqrt(fan_in), a model with
// tied embeddings only repeats its last token, but small float differences stay small).
std::vector<std::string> write_random_gguf(const std::string& path, const Config& config, DType type,
                                           std::uint64_t seed, const Vocabulary* vocabulary = nullptr,
                                           bool tied_classifier = false, std::span<const float> rope_freqs = {},
                                           float output_gain = 8.0f);

}  // namespace llama2
