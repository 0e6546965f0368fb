// A loaded model: hyperparameters plus weight views, and the memory they point into.
//
// The Model owns the file mapping, so every Tensor stays valid exactly as long as the Model.
// It is immutable after loading and can be shared by many generation states (the server).
#pragma once
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/mapped_file.hpp"
#include "core/types.hpp"
#include "model/config.hpp"
#include "model/tensor.hpp"
#include "tokenizer/vocabulary.hpp"

namespace llama2 {

struct LayerWeights {
  std::span<const float> rms_att;  // [dim]
  Tensor wq;                       // [q_dim, dim]
  Tensor wk;                       // [kv_dim, dim]
  Tensor wv;                       // [kv_dim, dim]
  std::span<const float> bq, bk, bv;        // [q_dim], [kv_dim], [kv_dim] (Qwen2), else empty
  std::span<const float> q_norm, k_norm;    // [head_size] per-head RMSNorm (Qwen3), else empty
  Tensor wo;                       // [dim, q_dim]
  std::span<const float> rms_ffn;  // [dim]
  Tensor w1;                       // [hidden_dim, dim]  gate
  Tensor w2;                       // [dim, hidden_dim]  down
  Tensor w3;                       // [hidden_dim, dim]  up
};

struct Weights {
  Tensor token_embedding;  // [vocab, dim]
  std::vector<LayerWeights> layers;
  std::span<const float> rms_final;  // [dim]
  Tensor wcls;                       // [vocab, dim]; may alias token_embedding
  std::span<const float> rope_freqs;  // [head_size/2] Llama 3.1+ RoPE frequency factors, else empty
};

// Which file format a model came from.
enum class ModelFormat { Llama2cV0, Llama2cV1, Llama2cV2, Gguf };

class Model {
 public:
  // Loads a llama2.c checkpoint (version 0, 1 or 2) or a GGUF file, detected from the header.
  // Throws Error with a one-line message on any malformed input.
  static std::shared_ptr<const Model> load(const std::string& path);

  const Config& config() const { return config_; }
  const Weights& weights() const { return weights_; }
  ModelFormat format() const { return format_; }
  // The file's own vocabulary (GGUF), if it has one.
  const std::optional<Vocabulary>& vocabulary() const { return vocabulary_; }
  const std::string& path() const { return file_.path(); }
  std::uint64_t file_size() const { return file_.size(); }
  // Bytes of weights read to produce one token (all matrices once, plus one embedding row).
  std::uint64_t weight_bytes_per_token() const;

  // Used by format readers to build a Model.
  Model(MappedFile file, Config config, Weights weights, ModelFormat format,
        std::vector<std::unique_ptr<std::byte[]>> owned = {}, std::optional<Vocabulary> vocabulary = {})
      : file_(std::move(file)),
        config_(config),
        weights_(std::move(weights)),
        format_(format),
        owned_(std::move(owned)),
        vocabulary_(std::move(vocabulary)) {}

 private:
  MappedFile file_;
  Config config_;
  Weights weights_;
  ModelFormat format_;
  // Buffers for weights that had to be rewritten at load time (e.g. regrouped int8 scales).
  std::vector<std::unique_ptr<std::byte[]>> owned_;
  std::optional<Vocabulary> vocabulary_;
};

}  // namespace llama2
