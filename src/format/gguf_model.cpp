// A parsed GGUF file of architecture "llama", "qwen2" or "qwen3" -> Model: hyperparameters
// from the <arch>.* metadata, weights as views of the tensors in place, and the embedded
// vocabulary.
//
// Why no tensor is permuted (RoPE pair order). Meta's original Llama checkpoints rotate
// *adjacent* pairs (q[2i], q[2i+1]) of each head. Hugging Face's conversion permutes the rows
// of wq and wk so that its rotate_half, which pairs q[i] with q[i + head_size/2], computes
// the same thing. Both llama.cpp's converter (convert_hf_to_gguf.py: "reverse HF permute
// back to original pth layout", applied to q_proj and k_proj with n_head / n_head_kv) and
// llama2.c's export.py undo that permutation, and ggml runs architecture "llama" with its
// "normal" RoPE mode, which rotates adjacent pairs. So a GGUF llama file, whether from
// llama.cpp or from our own converter (which copies llama2.c rows unchanged), already has
// the adjacent-pair row order our ops::rope expects: its wq/wk are used as they are.
// llama.cpp's own llama2.c-to-GGUF example likewise copies the weights without permuting.
// Qwen2/Qwen3 are converted without the permutation and run with NeoX RoPE (pairs half a
// head apart) in llama.cpp, and so here (Config::rope_neox).
#include <cmath>
#include <limits>
#include <set>
#include <string>

#include "core/error.hpp"
#include "format/gguf.hpp"
#include "tokenizer/vocabulary.hpp"
#include "tokenizer/bpe.hpp"
#include "dtype/codec.hpp"

namespace llama2 {

namespace {

class LlamaBuilder {
 public:
  LlamaBuilder(const GgufFile& f, std::vector<std::unique_ptr<std::byte[]>>& owned) : f_(f), owned_(owned) {}

  [[noreturn]] void fail(const std::string& msg) const { throw Error(f_.what + ": " + msg); }

  int hyperparameter(const char* key) const {
    const std::uint64_t v = f_.get_uint(key);
    if (v > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
      fail(std::string(key) + " = " + std::to_string(v) + " is out of range");
    return static_cast<int>(v);
  }

  // A hyperparameter key of this file's architecture: "<arch>.<name>".
  std::string key(const char* name) const { return prefix_ + name; }

  Config config() {
    const std::string arch(f_.get_string("general.architecture"));
    Config c;
    const std::optional<Architecture> known = architecture_from_name(arch);
    if (!known) fail("architecture '" + printable(arch) + "' is not supported (only llama, qwen2, qwen3)");
    c.arch = *known;
    prefix_ = arch + ".";
    c.seq_len = hyperparameter(key("context_length").c_str());
    c.dim = hyperparameter(key("embedding_length").c_str());
    c.hidden_dim = hyperparameter(key("feed_forward_length").c_str());
    c.n_layers = hyperparameter(key("block_count").c_str());
    c.n_heads = hyperparameter(key("attention.head_count").c_str());
    c.n_kv_heads = f_.find(key("attention.head_count_kv")) ? hyperparameter(key("attention.head_count_kv").c_str())
                                                            : c.n_heads;
    // A head width other than dim / n_heads (Qwen3, Mistral Nemo): keys and values alike.
    if (f_.find(key("attention.key_length"))) {
      c.head_dim = hyperparameter(key("attention.key_length").c_str());
      const std::uint64_t value_length = f_.get_uint(key("attention.value_length"), c.head_dim);
      if (value_length != static_cast<std::uint64_t>(c.head_dim))
        fail(key("attention.value_length") + " " + std::to_string(value_length) + " differs from key_length " +
             std::to_string(c.head_dim) + " (not supported)");
      if (c.n_heads > 0 && c.head_dim * static_cast<std::int64_t>(c.n_heads) == c.dim) c.head_dim = 0;
    }
    c.rope_theta = static_cast<float>(f_.get_float(key("rope.freq_base"), 10000.0));
    c.norm_eps = static_cast<float>(f_.get_float(key("attention.layer_norm_rms_epsilon")));
    // Features of other models that change the math: refuse them rather than compute
    // something else.
    if (f_.get_uint(key("expert_count"), 0) > 0) fail("mixture-of-experts models are not supported");
    const std::string scaling(f_.get_string(key("rope.scaling.type"), "none"));
    const double factor = f_.get_float(key("rope.scaling.factor"), 1.0);
    const double scale_linear = f_.get_float(key("rope.scale_linear"), 1.0);  // the older key
    if (scaling == "linear" || (scaling == "none" && scale_linear != 1.0)) {
      const double f = scaling == "linear" ? factor : scale_linear;
      if (!(f >= 1.0 && f <= 1024.0)) fail("RoPE linear scaling factor " + std::to_string(f) + " is out of range");
      c.rope_scale = static_cast<float>(1.0 / f);
    } else if (scaling != "none" || factor != 1.0) {
      fail("RoPE scaling '" + printable(scaling) + "' is not supported (only linear, and Llama 3's rope_freqs)");
    }

    // The vocab size is the embedding's row count (the token list, if any, must agree).
    const GgufTensorInfo* embd = f_.find_tensor("token_embd.weight");
    if (!embd) fail("missing tensor 'token_embd.weight'");
    if (embd->n_dims != 2 || embd->dims[1] > (1u << 22))
      fail("tensor 'token_embd.weight' must be 2-D [embedding_length, vocab]");
    c.vocab_size = static_cast<int>(embd->dims[1]);
    if (!std::isfinite(c.rope_theta) || !std::isfinite(c.norm_eps)) fail("non-finite RoPE base or RMS epsilon");
    try {
      validate(c);
    } catch (const Error& e) {
      fail(e.what());
    }
    // Our RoPE rotates the whole head; partial rotary dimensions would need another kernel.
    const std::uint64_t rope_dims = f_.get_uint(key("rope.dimension_count"), c.head_size());
    if (rope_dims != static_cast<std::uint64_t>(c.head_size()))
      fail(key("rope.dimension_count") + " " + std::to_string(rope_dims) + " differs from the head size " +
           std::to_string(c.head_size()) + " (partial RoPE is not supported)");
    return c;
  }

  const GgufTensorInfo& tensor(const std::string& name) {
    const GgufTensorInfo* t = f_.find_tensor(name);
    if (!t) fail("missing tensor '" + name + "'");
    used_.insert(name);
    return *t;
  }

  // A [rows, cols] matrix: ggml lists dims fastest first, so ne[0] = cols, ne[1] = rows.
  Tensor matrix(const std::string& name, std::int64_t rows, std::int64_t cols) {
    const GgufTensorInfo& info = tensor(name);
    if (info.n_dims != 2 || info.dims[0] != static_cast<std::uint64_t>(cols) ||
        info.dims[1] != static_cast<std::uint64_t>(rows))
      fail("tensor '" + name + "' has shape " + shape(info) + ", expected [" + std::to_string(cols) + ", " +
           std::to_string(rows) + "]");
    Tensor t;
    t.type = info.type;
    t.data = info.data.data();
    t.rows = rows;
    t.cols = cols;
    return t;
  }

  // A norm weight vector, used as fp32 in place; other types (rare) are dequantized once.
  std::span<const float> vector(const std::string& name, std::int64_t n) {
    const GgufTensorInfo& info = tensor(name);
    if (info.n_dims != 1 || info.dims[0] != static_cast<std::uint64_t>(n))
      fail("tensor '" + name + "' has shape " + shape(info) + ", expected [" + std::to_string(n) + "]");
    const bool aligned = reinterpret_cast<std::uintptr_t>(info.data.data()) % alignof(float) == 0;
    if (info.type == DType::F32 && aligned) return {reinterpret_cast<const float*>(info.data.data()), static_cast<std::size_t>(n)};
    auto buf = std::make_unique<std::byte[]>(n * sizeof(float));
    auto* out = reinterpret_cast<float*>(buf.get());
    quant::dequantize_row(info.type, info.data.data(), out, n);
    owned_.push_back(std::move(buf));
    return {out, static_cast<std::size_t>(n)};
  }

  // Tensors we were not asked for would be ignored computation (biases, extra RoPE factors,
  // ...): a model with them is not the model this engine runs, so refuse it.
  void check_all_used() const {
    for (const auto& t : f_.tensors)
      if (!used_.contains(std::string(t.name)))
        fail("unexpected tensor '" + std::string(t.name) + "' (not part of the " + prefix_.substr(0, prefix_.size() - 1) +
             " architecture this engine runs)");
  }

  std::optional<Vocabulary> vocabulary(int vocab_size) const {
    const std::string_view model = f_.get_string("tokenizer.ggml.model", "");
    // Other tokenizers (BERT's, T5's, ...) are not implemented: the model still runs on token ids.
    if (model != "llama" && model != "gpt2") return std::nullopt;
    const std::vector<std::string_view> tokens = f_.get_string_array("tokenizer.ggml.tokens");
    if (tokens.size() != static_cast<std::size_t>(vocab_size))
      fail("tokenizer.ggml.tokens has " + std::to_string(tokens.size()) + " tokens, the embedding has " +
           std::to_string(vocab_size) + " rows");
    Vocabulary v;
    v.model = std::string(model);
    v.bos = token_id("tokenizer.ggml.bos_token_id", kBosToken, vocab_size);
    v.eos = token_id("tokenizer.ggml.eos_token_id", kEosToken, vocab_size);
    // llama.cpp's defaults: BOS for sentencepiece vocabularies and Llama 3's, not for the others.
    const std::string pre(f_.get_string("tokenizer.ggml.pre", "default"));
    const bool llama3 = v.byte_level() && pre_tokenizer_from_name(pre) == PreTokenizer::Llama3;
    v.add_bos = f_.get_bool("tokenizer.ggml.add_bos_token", !v.byte_level() || llama3);
    v.chat_template = std::string(f_.get_string("tokenizer.chat_template", ""));
    v.scores = f_.find("tokenizer.ggml.scores") ? f_.get_float_array("tokenizer.ggml.scores")
                                                : std::vector<float>(tokens.size(), 0.0f);
    v.token_types = f_.find("tokenizer.ggml.token_type") ? f_.get_int_array("tokenizer.ggml.token_type")
                                                         : std::vector<std::int32_t>(tokens.size(), kTokenNormal);
    if (v.scores.size() != tokens.size() || v.token_types.size() != tokens.size())
      fail("tokenizer.ggml.scores / token_type do not have one entry per token");
    if (v.byte_level()) {
      // Byte-level tokens are kept as the file spells them; BpeTokenizer reads the spelling.
      v.pre = pre;
      v.ignore_merges = llama3;  // as llama.cpp: Llama 3's tokenizer.json sets ignore_merges
      if (!f_.find("tokenizer.ggml.merges")) fail("a gpt2 vocabulary needs tokenizer.ggml.merges");
      for (std::string_view m : f_.get_string_array("tokenizer.ggml.merges")) v.merges.emplace_back(m);
      for (std::string_view t : tokens) v.pieces.emplace_back(t);
      return v;
    }
    for (std::size_t id = 0; id < tokens.size(); ++id) {
      if (std::isnan(v.scores[id])) fail("token " + std::to_string(id) + " has a NaN score");
      v.pieces.push_back(piece_from_gguf(tokens[id], static_cast<TokenId>(id), v.bos, v.eos));
    }
    return v;
  }

 private:
  TokenId token_id(const char* key, TokenId fallback, int vocab_size) const {
    const std::uint64_t id = f_.get_uint(key, static_cast<std::uint64_t>(fallback));
    if (id >= static_cast<std::uint64_t>(vocab_size))
      fail(std::string(key) + " = " + std::to_string(id) + " is outside the vocab of " + std::to_string(vocab_size));
    return static_cast<TokenId>(id);
  }

  static std::string shape(const GgufTensorInfo& info) {
    std::string s = "[";
    for (std::uint32_t d = 0; d < info.n_dims; ++d) s += (d ? ", " : "") + std::to_string(info.dims[d]);
    return s + "]";
  }

  const GgufFile& f_;
  std::vector<std::unique_ptr<std::byte[]>>& owned_;
  std::set<std::string> used_;
  std::string prefix_ = "llama.";
};

}  // namespace

GgufLlama read_gguf_llama(const GgufFile& f) {
  GgufLlama out;
  LlamaBuilder b(f, out.owned);
  const Config c = out.config = b.config();
  const std::int64_t dim = c.dim, q_dim = c.q_dim(), kv_dim = c.kv_dim(), hidden = c.hidden_dim,
                     vocab = c.vocab_size, head = c.head_size();
  Weights& w = out.weights;
  w.token_embedding = b.matrix("token_embd.weight", vocab, dim);
  w.layers.resize(c.n_layers);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    LayerWeights& lw = w.layers[l];
    lw.rms_att = b.vector(p + "attn_norm.weight", dim);
    lw.wq = b.matrix(p + "attn_q.weight", q_dim, dim);
    lw.wk = b.matrix(p + "attn_k.weight", kv_dim, dim);
    lw.wv = b.matrix(p + "attn_v.weight", kv_dim, dim);
    if (c.arch == Architecture::Qwen2) {
      lw.bq = b.vector(p + "attn_q.bias", q_dim);
      lw.bk = b.vector(p + "attn_k.bias", kv_dim);
      lw.bv = b.vector(p + "attn_v.bias", kv_dim);
    }
    if (c.arch == Architecture::Qwen3) {
      lw.q_norm = b.vector(p + "attn_q_norm.weight", head);
      lw.k_norm = b.vector(p + "attn_k_norm.weight", head);
    }
    lw.wo = b.matrix(p + "attn_output.weight", dim, q_dim);
    lw.rms_ffn = b.vector(p + "ffn_norm.weight", dim);
    lw.w1 = b.matrix(p + "ffn_gate.weight", hidden, dim);
    lw.w2 = b.matrix(p + "ffn_down.weight", dim, hidden);
    lw.w3 = b.matrix(p + "ffn_up.weight", hidden, dim);
  }
  // Llama 3.1+ long-context RoPE: one frequency divisor per pair of a head.
  if (f.find_tensor("rope_freqs.weight")) {
    w.rope_freqs = b.vector("rope_freqs.weight", head / 2);
    for (float factor : w.rope_freqs)
      if (!(factor > 0.0f && std::isfinite(factor)))
        b.fail("tensor 'rope_freqs.weight' holds " + std::to_string(factor) + " (factors must be positive)");
  }
  w.rms_final = b.vector("output_norm.weight", dim);
  // Without an output matrix the classifier is tied to the embedding (as llama.cpp does).
  w.wcls = f.find_tensor("output.weight") ? b.matrix("output.weight", vocab, dim) : w.token_embedding;
  b.check_all_used();
  out.vocabulary = b.vocabulary(c.vocab_size);
  return out;
}

std::shared_ptr<const Model> load_gguf(MappedFile file) {
  // Views into the mapping stay valid when `file` moves into the Model (same mapping).
  const GgufFile f = parse_gguf(file.bytes(), "'" + file.path() + "'");
  GgufLlama llama = read_gguf_llama(f);
  return std::make_shared<const Model>(std::move(file), llama.config, std::move(llama.weights), ModelFormat::Gguf,
                                       std::move(llama.owned), std::move(llama.vocabulary));
}

}  // namespace llama2
