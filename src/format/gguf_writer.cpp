#include "format/gguf_writer.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <ostream>
#include <regex>

#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "dtype/codec.hpp"
#include "format/llama2c_writer.hpp"

namespace llama2 {

// ===========================================================================
// GgufWriter: the container
// ===========================================================================
namespace {

template <class T>
void append(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

void append_string(std::string& out, std::string_view s) {
  append<std::uint64_t>(out, s.size());
  out.append(s);
}

void write_bytes(std::ostream& out, const void* data, std::uint64_t n) {
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  if (!out) throw Error("write failed (disk full?)");
}

void write_padding(std::ostream& out, std::uint64_t& pos, std::uint64_t alignment) {
  static const char zeros[256] = {};
  std::uint64_t pad = (alignment - pos % alignment) % alignment;
  pos += pad;
  while (pad > 0) {
    const std::uint64_t k = std::min<std::uint64_t>(pad, sizeof zeros);
    write_bytes(out, zeros, k);
    pad -= k;
  }
}

std::uint64_t tensor_bytes(DType type, const std::vector<std::uint64_t>& dims) {
  std::uint64_t elements = 1;
  for (std::uint64_t d : dims) elements = checked_mul(elements, d, "tensor size");
  return checked_mul(elements / dtype_block_values(type), dtype_block_bytes(type), "tensor bytes");
}

}  // namespace

GgufWriter::GgufWriter(std::uint32_t alignment) : alignment_(alignment) {
  if (alignment == 0 || alignment % 8 != 0) throw Error("GGUF alignment must be a multiple of 8");
  add_uint32("general.alignment", alignment);
}

void GgufWriter::key(std::string_view k, GgufValueType type) {
  for (const auto& existing : keys_)
    if (existing == k) throw Error("duplicate GGUF metadata key '" + std::string(k) + "'");
  keys_.emplace_back(k);
  ++n_kv_;
  append_string(metadata_, k);
  append(metadata_, static_cast<std::uint32_t>(type));
}

void GgufWriter::add_uint32(std::string_view k, std::uint32_t v) {
  key(k, GgufValueType::UInt32);
  append(metadata_, v);
}
void GgufWriter::add_int32(std::string_view k, std::int32_t v) {
  key(k, GgufValueType::Int32);
  append(metadata_, v);
}
void GgufWriter::add_uint64(std::string_view k, std::uint64_t v) {
  key(k, GgufValueType::UInt64);
  append(metadata_, v);
}
void GgufWriter::add_float32(std::string_view k, float v) {
  key(k, GgufValueType::Float32);
  append(metadata_, v);
}
void GgufWriter::add_bool(std::string_view k, bool v) {
  key(k, GgufValueType::Bool);
  append<std::uint8_t>(metadata_, v ? 1 : 0);
}
void GgufWriter::add_string(std::string_view k, std::string_view v) {
  key(k, GgufValueType::String);
  append_string(metadata_, v);
}
void GgufWriter::add_string_array(std::string_view k, const std::vector<std::string>& v) {
  key(k, GgufValueType::Array);
  append(metadata_, static_cast<std::uint32_t>(GgufValueType::String));
  append<std::uint64_t>(metadata_, v.size());
  for (const auto& s : v) append_string(metadata_, s);
}
void GgufWriter::add_float32_array(std::string_view k, std::span<const float> v) {
  key(k, GgufValueType::Array);
  append(metadata_, static_cast<std::uint32_t>(GgufValueType::Float32));
  append<std::uint64_t>(metadata_, v.size());
  for (float x : v) append(metadata_, x);
}
void GgufWriter::add_int32_array(std::string_view k, std::span<const std::int32_t> v) {
  key(k, GgufValueType::Array);
  append(metadata_, static_cast<std::uint32_t>(GgufValueType::Int32));
  append<std::uint64_t>(metadata_, v.size());
  for (std::int32_t x : v) append(metadata_, x);
}

void GgufWriter::add_tensor(std::string name, DType type, std::vector<std::uint64_t> dims, Fill fill) {
  ggml_from_dtype(type);  // throws for types GGUF cannot hold
  if (dims.empty() || dims.size() > kGgufMaxDims) throw Error("tensor '" + name + "' needs 1 to 4 dimensions");
  if (dims[0] % dtype_block_values(type) != 0)
    throw Error("tensor '" + name + "': rows of " + std::to_string(dims[0]) + " values cannot be stored as " +
                dtype_name(type));
  for (const auto& t : tensors_)
    if (t.name == name) throw Error("duplicate GGUF tensor name '" + name + "'");
  const std::uint64_t bytes = tensor_bytes(type, dims);
  tensors_.push_back({std::move(name), type, std::move(dims), bytes, std::move(fill)});
}

void GgufWriter::write(std::ostream& out) const {
  std::string head;
  append<std::uint32_t>(head, kGgufMagic);
  append<std::uint32_t>(head, 3);
  append<std::uint64_t>(head, tensors_.size());
  append<std::uint64_t>(head, n_kv_);
  head += metadata_;
  std::uint64_t offset = 0;  // relative to the data section
  for (const auto& t : tensors_) {
    append_string(head, t.name);
    append<std::uint32_t>(head, static_cast<std::uint32_t>(t.dims.size()));
    for (std::uint64_t d : t.dims) append<std::uint64_t>(head, d);
    append<std::uint32_t>(head, static_cast<std::uint32_t>(ggml_from_dtype(t.type)));
    append<std::uint64_t>(head, offset);
    offset += t.bytes;
    offset += (alignment_ - offset % alignment_) % alignment_;
  }
  write_bytes(out, head.data(), head.size());
  std::uint64_t pos = head.size();
  write_padding(out, pos, alignment_);
  std::vector<std::byte> buffer;
  for (const auto& t : tensors_) {
    buffer.assign(t.bytes, std::byte{0});
    t.fill(buffer);
    write_bytes(out, buffer.data(), buffer.size());
    pos += buffer.size();
    write_padding(out, pos, alignment_);
  }
  out.flush();
  if (!out) throw Error("write failed (disk full?)");
}

void GgufWriter::write_file(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error("cannot create '" + path + "'");
  try {
    write(out);
  } catch (const Error& e) {
    throw Error("'" + path + "': " + e.what());
  }
}

// ===========================================================================
// Rows of fp32 -> a weight type
// ===========================================================================
void encode_row(DType type, const float* in, void* out, std::int64_t n) {
  if (type == DType::F32) {
    std::memcpy(out, in, static_cast<std::size_t>(n) * sizeof(float));
    return;
  }
  quant::quantize_row(type, in, out, n);
}

DType storage_type(DType wanted, std::int64_t cols) {
  if (cols % dtype_block_values(wanted) == 0) return wanted;
  // As llama.cpp does for rows that do not fit the super-block: a block-32 type of similar
  // size (Q4_1 for 4-bit K, Q8_0 for the larger ones), then F16 when even 32 does not divide.
  const DType fallback = wanted == DType::Q4_K ? DType::Q4_1 : DType::Q8_0;
  if (wanted != fallback && cols % dtype_block_values(fallback) == 0) return fallback;
  return DType::F16;
}

// ===========================================================================
// Llama models as GGUF
// ===========================================================================
namespace {

// Produces row `row` of a tensor as fp32 into out[cols]; must be safe to call from several
// threads at once (rows are encoded in parallel).
using RowSource = std::function<void(std::int64_t row, float* out)>;

struct LlamaTensor {
  std::string name;
  std::int64_t rows;  // 1 for norm vectors
  std::int64_t cols;
  RowSource source;
};

// The tensor list of the model's architecture, in llama.cpp's order. `make` supplies each
// one's rows; vectors (norms, biases, RoPE factors) have one row.
std::vector<LlamaTensor> llama_tensors(const Config& c, bool tied_classifier, bool rope_freqs,
                                       const std::function<RowSource(const std::string&, std::int64_t,
                                                                     std::int64_t)>& make) {
  std::vector<LlamaTensor> out;
  auto add = [&](std::string name, std::int64_t rows, std::int64_t cols) {
    RowSource src = make(name, rows, cols);
    out.push_back({std::move(name), rows, cols, std::move(src)});
  };
  const std::int64_t dim = c.dim, q = c.q_dim(), kv = c.kv_dim(), hidden = c.hidden_dim, head = c.head_size();
  add("token_embd.weight", c.vocab_size, dim);
  if (rope_freqs) add("rope_freqs.weight", 1, head / 2);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    add(p + "attn_norm.weight", 1, dim);
    add(p + "attn_q.weight", q, dim);
    add(p + "attn_k.weight", kv, dim);
    add(p + "attn_v.weight", kv, dim);
    if (c.arch == Architecture::Qwen2) {
      add(p + "attn_q.bias", 1, q);
      add(p + "attn_k.bias", 1, kv);
      add(p + "attn_v.bias", 1, kv);
    }
    if (c.arch == Architecture::Qwen3) {
      add(p + "attn_q_norm.weight", 1, head);
      add(p + "attn_k_norm.weight", 1, head);
    }
    add(p + "attn_output.weight", dim, q);
    add(p + "ffn_norm.weight", 1, dim);
    add(p + "ffn_gate.weight", hidden, dim);
    add(p + "ffn_down.weight", dim, hidden);
    add(p + "ffn_up.weight", hidden, dim);
  }
  add("output_norm.weight", 1, dim);
  if (!tied_classifier) add("output.weight", c.vocab_size, dim);
  return out;
}

// llama.cpp's general.file_type ("mostly X") for a uniform type.
std::uint32_t file_type(DType t) {
  switch (t) {
    case DType::F32: return 0;
    case DType::F16: return 1;
    case DType::Q4_0: return 2;
    case DType::Q4_1: return 3;
    case DType::Q8_0: return 7;
    case DType::Q4_K: return 14;  // Q4_K_S
    case DType::Q5_K: return 16;  // Q5_K_S
    case DType::Q6_K: return 18;
    case DType::BF16: return 32;
    default: return 0;
  }
}

void add_llama_metadata(GgufWriter& w, const Config& c, DType type, const std::string& name,
                        const Vocabulary* vocabulary) {
  const std::string arch = architecture_name(c.arch);
  auto key = [&](const char* k) { return arch + "." + k; };
  w.add_string("general.architecture", arch);
  w.add_string("general.name", name);
  w.add_uint32("general.file_type", file_type(type));
  if (dtype_block_values(type) > 1) w.add_uint32("general.quantization_version", 2);
  w.add_uint32(key("vocab_size"), static_cast<std::uint32_t>(c.vocab_size));
  w.add_uint32(key("context_length"), static_cast<std::uint32_t>(c.seq_len));
  w.add_uint32(key("embedding_length"), static_cast<std::uint32_t>(c.dim));
  w.add_uint32(key("feed_forward_length"), static_cast<std::uint32_t>(c.hidden_dim));
  w.add_uint32(key("block_count"), static_cast<std::uint32_t>(c.n_layers));
  w.add_uint32(key("attention.head_count"), static_cast<std::uint32_t>(c.n_heads));
  w.add_uint32(key("attention.head_count_kv"), static_cast<std::uint32_t>(c.n_kv_heads));
  if (c.head_dim != 0 || c.arch == Architecture::Qwen3) {  // llama.cpp's converter always writes it for Qwen3
    w.add_uint32(key("attention.key_length"), static_cast<std::uint32_t>(c.head_size()));
    w.add_uint32(key("attention.value_length"), static_cast<std::uint32_t>(c.head_size()));
  }
  w.add_uint32(key("rope.dimension_count"), static_cast<std::uint32_t>(c.head_size()));
  w.add_float32(key("rope.freq_base"), c.rope_theta);
  if (c.rope_scale != 1.0f) {
    w.add_string(key("rope.scaling.type"), "linear");
    w.add_float32(key("rope.scaling.factor"), 1.0f / c.rope_scale);
  }
  w.add_float32(key("attention.layer_norm_rms_epsilon"), c.norm_eps);
  if (!vocabulary) {
    // Every reader looks this key up (llama.cpp refuses a file without it); "none" says the
    // file carries no vocabulary, so the model runs on token ids.
    w.add_string("tokenizer.ggml.model", "none");
    return;
  }
  const Vocabulary& v = *vocabulary;
  if (v.pieces.size() != static_cast<std::size_t>(c.vocab_size))
    throw Error("the vocabulary has " + std::to_string(v.pieces.size()) + " tokens, the model " +
                std::to_string(c.vocab_size));
  if (v.byte_level()) {
    // As llama.cpp's converter writes a byte-level vocabulary: tokens as spelled, merges, the
    // pre-tokenizer's name; no scores and no unknown token.
    w.add_string("tokenizer.ggml.model", "gpt2");
    w.add_string("tokenizer.ggml.pre", v.pre);
    w.add_string_array("tokenizer.ggml.tokens", v.pieces);
    w.add_int32_array("tokenizer.ggml.token_type", v.token_types);
    w.add_string_array("tokenizer.ggml.merges", v.merges);
  } else {
    std::vector<std::string> tokens;
    tokens.reserve(v.pieces.size());
    for (std::size_t id = 0; id < v.pieces.size(); ++id)
      tokens.push_back(piece_to_gguf(v.pieces[id], static_cast<TokenId>(id), v.bos, v.eos));
    w.add_string("tokenizer.ggml.model", "llama");
    w.add_string_array("tokenizer.ggml.tokens", tokens);
    w.add_float32_array("tokenizer.ggml.scores", v.scores);
    w.add_int32_array("tokenizer.ggml.token_type", v.token_types);
    w.add_uint32("tokenizer.ggml.unknown_token_id", static_cast<std::uint32_t>(kUnkToken));
  }
  w.add_uint32("tokenizer.ggml.bos_token_id", static_cast<std::uint32_t>(v.bos));
  w.add_uint32("tokenizer.ggml.eos_token_id", static_cast<std::uint32_t>(v.eos));
  w.add_bool("tokenizer.ggml.add_bos_token", v.add_bos);
  w.add_bool("tokenizer.ggml.add_eos_token", false);
  if (!v.chat_template.empty()) w.add_string("tokenizer.chat_template", v.chat_template);
}

// Declares every tensor: matrices in `type` (or their storage_type), norms in F32. Rows are
// produced and encoded in parallel when the writer asks for the tensor's bytes.
// `type_of` gives the type asked for a matrix, by name.
std::vector<std::string> add_llama_tensors(GgufWriter& w, std::vector<LlamaTensor> tensors,
                                           const std::function<DType(const std::string&)>& type_of,
                                           const std::shared_ptr<ThreadPool>& pool) {
  std::vector<std::string> notes;
  for (auto& t : tensors) {
    const DType type = t.rows == 1 ? DType::F32 : type_of(t.name);
    const DType stored = t.rows == 1 ? DType::F32 : storage_type(type, t.cols);
    if (t.rows > 1 && stored != type)
      notes.push_back(t.name + ": rows of " + std::to_string(t.cols) + " values do not fit " + dtype_name(type) +
                      " blocks, stored as " + dtype_name(stored));
    std::vector<std::uint64_t> dims{static_cast<std::uint64_t>(t.cols)};
    if (t.rows > 1) dims.push_back(static_cast<std::uint64_t>(t.rows));
    const std::int64_t rows = t.rows, cols = t.cols;
    const std::int64_t row_bytes = cols / dtype_block_values(stored) * dtype_block_bytes(stored);
    w.add_tensor(t.name, stored, std::move(dims),
                 [rows, cols, row_bytes, stored, pool, source = std::move(t.source)](std::span<std::byte> out) {
                   pool->parallel_for(rows, 16, [&](std::int64_t begin, std::int64_t end) {
                     std::vector<float> row(static_cast<std::size_t>(cols));
                     for (std::int64_t r = begin; r < end; ++r) {
                       source(r, row.data());
                       encode_row(stored, row.data(), out.data() + r * row_bytes, cols);
                     }
                   });
                 });
  }
  return notes;
}

bool classifier_is_tied(const Weights& w) {
  return w.wcls.data == w.token_embedding.data && w.wcls.type == w.token_embedding.type;
}

RowSource tensor_rows(const Tensor& t) {
  return [&t](std::int64_t row, float* out) { dequantize_row(t, row, out); };
}

RowSource vector_rows(std::span<const float> v) {
  return [v](std::int64_t, float* out) { std::memcpy(out, v.data(), v.size() * sizeof(float)); };
}

// The rules' patterns, compiled; throws Error for one that does not parse or matches no matrix.
std::vector<std::regex> compile_rules(const std::vector<TensorTypeRule>& rules, const std::vector<LlamaTensor>& tensors) {
  std::vector<std::regex> patterns;
  for (const auto& rule : rules) {
    try {
      patterns.emplace_back(rule.pattern, std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      throw Error("tensor type rule '" + rule.pattern + "': not a regular expression");
    }
    const bool used = std::any_of(tensors.begin(), tensors.end(), [&](const LlamaTensor& t) {
      return t.rows > 1 && std::regex_search(t.name, patterns.back());
    });
    if (!used) throw Error("tensor type rule '" + rule.pattern + "' matches no matrix");
  }
  return patterns;
}

}  // namespace

void check_tensor_type_rules(const Model& model, const std::vector<TensorTypeRule>& rules) {
  compile_rules(rules, llama_tensors(model.config(), classifier_is_tied(model.weights()),
                                     !model.weights().rope_freqs.empty(), [](const std::string&, std::int64_t, std::int64_t) { return RowSource{}; }));
}

std::vector<std::string> write_gguf_model(const Model& model, const std::string& path,
                                          const GgufExportOptions& options) {
  const Config& c = model.config();
  const Weights& weights = model.weights();
  GgufWriter w;
  add_llama_metadata(w, c, options.type, options.name, options.vocabulary);
  // Layer tensors by name: "blk.N.<kind>.weight".
  auto make = [&](const std::string& name, std::int64_t, std::int64_t) -> RowSource {
    if (name == "token_embd.weight") return tensor_rows(weights.token_embedding);
    if (name == "output_norm.weight") return vector_rows(weights.rms_final);
    if (name == "output.weight") return tensor_rows(weights.wcls);
    if (name == "rope_freqs.weight") return vector_rows(weights.rope_freqs);
    const std::size_t dot = name.find('.', 4);
    const LayerWeights& l = weights.layers[std::stoul(name.substr(4, dot - 4))];
    const std::string kind = name.substr(dot + 1);
    if (kind == "attn_norm.weight") return vector_rows(l.rms_att);
    if (kind == "ffn_norm.weight") return vector_rows(l.rms_ffn);
    if (kind == "attn_q.bias") return vector_rows(l.bq);
    if (kind == "attn_k.bias") return vector_rows(l.bk);
    if (kind == "attn_v.bias") return vector_rows(l.bv);
    if (kind == "attn_q_norm.weight") return vector_rows(l.q_norm);
    if (kind == "attn_k_norm.weight") return vector_rows(l.k_norm);
    const Tensor* t = kind == "attn_q.weight"        ? &l.wq
                      : kind == "attn_k.weight"      ? &l.wk
                      : kind == "attn_v.weight"      ? &l.wv
                      : kind == "attn_output.weight" ? &l.wo
                      : kind == "ffn_gate.weight"    ? &l.w1
                      : kind == "ffn_down.weight"    ? &l.w2
                                                     : &l.w3;
    return tensor_rows(*t);
  };
  auto tensors = llama_tensors(c, classifier_is_tied(weights), !weights.rope_freqs.empty(), make);
  const std::vector<std::regex> patterns = compile_rules(options.tensor_types, tensors);
  std::vector<std::string> notes;
  auto type_of = [&](const std::string& name) {
    for (std::size_t i = 0; i < patterns.size(); ++i)
      if (std::regex_search(name, patterns[i])) {
        const DType type = options.tensor_types[i].type;
        if (type != options.type)
          notes.push_back(name + ": " + dtype_name(type) + " (rule '" + options.tensor_types[i].pattern + "')");
        return type;
      }
    return options.type;
  };
  auto pool = std::make_shared<ThreadPool>(ThreadPool::hardware_threads());
  auto fit_notes = add_llama_tensors(w, std::move(tensors), type_of, pool);
  notes.insert(notes.end(), fit_notes.begin(), fit_notes.end());
  w.write_file(path);
  return notes;
}

// ===========================================================================
// Back to llama2.c
// ===========================================================================
namespace {
class FloatFile {
 public:
  explicit FloatFile(const std::string& path) : path_(path), out_(path, std::ios::binary | std::ios::trunc) {
    if (!out_) throw Error("cannot create '" + path + "'");
  }
  template <class T>
  void put(const T* p, std::size_t n) {
    out_.write(reinterpret_cast<const char*>(p), static_cast<std::streamsize>(n * sizeof(T)));
    if (!out_) throw Error("'" + path_ + "': write failed (disk full?)");
  }
  void tensor(const Tensor& t) {
    std::vector<float> row(static_cast<std::size_t>(t.cols));
    for (std::int64_t r = 0; r < t.rows; ++r) {
      dequantize_row(t, r, row.data());
      put(row.data(), row.size());
    }
  }
  void finish() {
    out_.flush();
    if (!out_) throw Error("'" + path_ + "': write failed (disk full?)");
  }

 private:
  std::string path_;
  std::ofstream out_;
};
}  // namespace

void write_llama2c_v0(const Model& model, const std::string& path) {
  const Config& c = model.config();
  const Weights& w = model.weights();
  check_llama2c_expressible(model);
  const bool shared = classifier_is_tied(w);
  FloatFile f(path);
  const std::int32_t header[7] = {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
                                  shared ? c.vocab_size : -c.vocab_size, c.seq_len};
  f.put(header, 7);
  f.tensor(w.token_embedding);
  for (const auto& l : w.layers) f.put(l.rms_att.data(), l.rms_att.size());
  for (const auto& l : w.layers) f.tensor(l.wq);
  for (const auto& l : w.layers) f.tensor(l.wk);
  for (const auto& l : w.layers) f.tensor(l.wv);
  for (const auto& l : w.layers) f.tensor(l.wo);
  for (const auto& l : w.layers) f.put(l.rms_ffn.data(), l.rms_ffn.size());
  for (const auto& l : w.layers) f.tensor(l.w1);
  for (const auto& l : w.layers) f.tensor(l.w2);
  for (const auto& l : w.layers) f.tensor(l.w3);
  f.put(w.rms_final.data(), w.rms_final.size());
  // freq_cis_real then freq_cis_imag, [seq_len, head_size/2]: unused by readers (RoPE is
  // recomputed), written with the values llama2.c's exporter gave them.
  const int half = c.head_size() / 2;
  for (int part = 0; part < 2; ++part) {
    std::vector<float> row(static_cast<std::size_t>(half));
    for (int pos = 0; pos < c.seq_len; ++pos) {
      for (int i = 0; i < half; ++i) {
        const double angle = pos / std::pow(10000.0, 2.0 * i / c.head_size());
        row[i] = static_cast<float>(part == 0 ? std::cos(angle) : std::sin(angle));
      }
      f.put(row.data(), row.size());
    }
  }
  if (!shared) f.tensor(w.wcls);
  f.finish();
}

void write_tokenizer_bin(const Vocabulary& v, const std::string& path) {
  if (v.byte_level())
    throw Error("a byte-level BPE vocabulary (tokenizer.ggml.model gpt2) has no llama2.c tokenizer.bin form");
  std::int32_t max_length = 0;
  for (const auto& p : v.pieces) max_length = std::max<std::int32_t>(max_length, static_cast<std::int32_t>(p.size()));
  FloatFile f(path);
  f.put(&max_length, 1);
  for (std::size_t id = 0; id < v.pieces.size(); ++id) {
    const std::int32_t length = static_cast<std::int32_t>(v.pieces[id].size());
    f.put(&v.scores[id], 1);
    f.put(&length, 1);
    f.put(v.pieces[id].data(), v.pieces[id].size());
  }
  f.finish();
}

// ===========================================================================
// Random-weight models of a published shape
// ===========================================================================
namespace {
// Llama 3.1+ RoPE frequency factors (rope_freqs.weight), computed as Hugging Face's
// "llama3" rope_scaling and llama.cpp's converter do: long wavelengths are slowed by
// `factor`, short ones kept, those between blended smoothly.
std::vector<float> llama3_rope_factors(int head_size, float theta, float factor, float low_freq_factor,
                                       float high_freq_factor, float original_context) {
  const double low_wavelen = original_context / low_freq_factor, high_wavelen = original_context / high_freq_factor;
  std::vector<float> out;
  for (int i = 0; i < head_size / 2; ++i) {
    const double freq = 1.0 / std::pow(static_cast<double>(theta), 2.0 * i / head_size);
    const double wavelen = 2.0 * 3.14159265358979323846 / freq;
    if (wavelen < high_wavelen) {
      out.push_back(1.0f);
    } else if (wavelen > low_wavelen) {
      out.push_back(factor);
    } else {
      const double smooth = (original_context / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
      out.push_back(static_cast<float>(1.0 / ((1.0 - smooth) / factor + smooth)));
    }
  }
  return out;
}

// dim, hidden, layers, heads, kv heads, head_dim (0: dim / heads), vocab, context, RoPE base,
// RMS epsilon, tied, Llama 3 RoPE factors: from each model's config.json on the hub. The
// micro shapes (for tests) have each architecture's features at a tiny size.
struct ShapeRow {
  const char* name;
  Architecture arch;
  int dim, hidden, layers, heads, kv_heads, head_dim, vocab, seq_len;
  float rope_theta, norm_eps;
  bool tied, llama3_rope;
};
constexpr ShapeRow kShapes[] = {
    {"tinyllama", Architecture::Llama, 2048, 5632, 22, 32, 4, 0, 32000, 2048, 10000.0f, 1e-5f, false, false},
    {"smollm2-135m", Architecture::Llama, 576, 1536, 30, 9, 3, 0, 49152, 8192, 100000.0f, 1e-5f, true, false},
    {"smollm2-360m", Architecture::Llama, 960, 2560, 32, 15, 5, 0, 49152, 8192, 100000.0f, 1e-5f, true, false},
    {"llama-3.2-1b", Architecture::Llama, 2048, 8192, 16, 32, 8, 0, 128256, 131072, 500000.0f, 1e-5f, true, true},
    {"qwen2.5-0.5b", Architecture::Qwen2, 896, 4864, 24, 14, 2, 0, 151936, 32768, 1000000.0f, 1e-6f, true, false},
    {"qwen3-0.6b", Architecture::Qwen3, 1024, 3072, 28, 16, 8, 128, 151936, 40960, 1000000.0f, 1e-6f, true, false},
    {"micro", Architecture::Llama, 64, 192, 2, 4, 2, 0, 512, 512, 10000.0f, 1e-5f, false, false},
    {"micro-llama3", Architecture::Llama, 64, 192, 2, 4, 2, 0, 512, 512, 500000.0f, 1e-5f, true, true},
    {"micro-qwen2", Architecture::Qwen2, 64, 192, 2, 4, 2, 0, 512, 512, 1000000.0f, 1e-6f, true, false},
    {"micro-qwen3", Architecture::Qwen3, 64, 192, 2, 4, 2, 32, 512, 512, 1000000.0f, 1e-6f, true, false},
};
}  // namespace

std::vector<std::string> gguf_random_shape_names() {
  std::vector<std::string> names;
  for (const ShapeRow& r : kShapes) names.emplace_back(r.name);
  return names;
}

RandomShape gguf_random_shape(const std::string& name) {
  for (const ShapeRow& r : kShapes) {
    if (name != r.name) continue;
    RandomShape s;
    Config& c = s.config;
    c.arch = r.arch;
    c.dim = r.dim;
    c.hidden_dim = r.hidden;
    c.n_layers = r.layers;
    c.n_heads = r.heads;
    c.n_kv_heads = r.kv_heads;
    c.head_dim = r.head_dim;
    c.vocab_size = r.vocab;
    c.seq_len = r.seq_len;
    c.rope_theta = r.rope_theta;
    c.norm_eps = r.norm_eps;
    s.tied_classifier = r.tied;
    // Llama 3.2's rope_scaling: factor 32, low/high frequency factors 1 and 4, 8192 positions.
    if (r.llama3_rope) s.rope_freqs = llama3_rope_factors(c.head_size(), c.rope_theta, 32.0f, 1.0f, 4.0f, 8192.0f);
    return s;
  }
  std::string known;
  for (const std::string& n : gguf_random_shape_names()) known += (known.empty() ? "" : ", ") + n;
  throw UsageError("unknown shape '" + name + "' (known: " + known + ")");
}

namespace {
// splitmix64: decorrelates the per-row seeds so rows can be generated in any order.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
}  // namespace

std::vector<std::string> write_random_gguf(const std::string& path, const Config& config, DType type,
                                           std::uint64_t seed, const Vocabulary* vocabulary, bool tied_classifier,
                                           std::span<const float> rope_freqs, float output_gain) {
  validate(config);
  if (!rope_freqs.empty() && rope_freqs.size() != static_cast<std::size_t>(config.head_size() / 2))
    throw Error("rope_freqs has " + std::to_string(rope_freqs.size()) + " factors, the head " +
                std::to_string(config.head_size() / 2) + " pairs");
  GgufWriter w;
  add_llama_metadata(w, config, type,
                     "random " + std::to_string(config.dim) + "-dim " + architecture_name(config.arch), vocabulary);
  // Scales as in format/random_checkpoint.cpp: embeddings ~U(-1,1), norms ~1, matrices
  // ~1/sqrt(fan_in) (but see the output projections below).
  std::uint64_t tensor_id = 0;
  // Biases ~U(-0.5, 0.5); the RoPE factors are the given ones, not random.
  auto make = [&](const std::string& name, std::int64_t rows, std::int64_t cols) -> RowSource {
    if (name == "rope_freqs.weight") return vector_rows(rope_freqs);
    const bool bias = name.ends_with(".bias");
    const float center = rows == 1 && !bias ? 1.0f : 0.0f;
    float spread = bias ? 0.5f : rows == 1 ? 0.1f : name == "token_embd.weight" ? 1.0f : 1.0f / std::sqrt(static_cast<float>(cols));
    // The blocks' output projections are output_gain (8) times wider: at 1/sqrt(fan_in) the
    // embedding dominates the residual stream, and with a tied classifier the model only repeats
    // its last token. At 8x the next-token distribution depends on the context (top-1
    // probability from ~0.3 to ~1), which is what a comparison with another engine needs.
    if (name.ends_with("attn_output.weight") || name.ends_with("ffn_down.weight")) spread *= output_gain;
    const std::uint64_t tensor_seed = mix(seed ^ mix(++tensor_id));
    return [center, spread, cols, tensor_seed](std::int64_t row, float* out) {
      std::uint64_t s = mix(tensor_seed + static_cast<std::uint64_t>(row)) | 1;
      for (std::int64_t i = 0; i < cols; ++i) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        const float u = static_cast<float>((s * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f;
        out[i] = center + spread * (2.0f * u - 1.0f);
      }
    };
  };
  auto pool = std::make_shared<ThreadPool>(ThreadPool::hardware_threads());
  auto notes = add_llama_tensors(w, llama_tensors(config, tied_classifier, !rope_freqs.empty(), make),
                                 [type](const std::string&) { return type; }, pool);
  w.write_file(path);
  return notes;
}

}  // namespace llama2
