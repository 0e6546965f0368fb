#include "format/llama2c.hpp"

#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/byte_reader.hpp"

namespace llama2 {

namespace {

// Walks the tensors of a checkpoint in file order, handing out bounds-checked views.
class TensorCursor {
 public:
  TensorCursor(ByteReader& reader, std::vector<std::unique_ptr<std::byte[]>>& owned)
      : r_(reader), owned_(owned) {}

  std::span<const float> floats(std::uint64_t n, const char* name) {
    const auto* p = r_.take(checked_mul(n, 4, name), name);
    return {reinterpret_cast<const float*>(p), n};
  }

  Tensor f32(std::int64_t rows, std::int64_t cols, const char* name) {
    Tensor t;
    t.type = DType::F32;
    t.rows = rows;
    t.cols = cols;
    t.data = floats(checked_mul(rows, cols, name), name).data();
    return t;
  }

  // Version 2: rows*cols int8 values, then one fp32 scale per group of `gs` flat values.
  Tensor q8(std::int64_t rows, std::int64_t cols, int gs, const char* name) {
    const std::uint64_t n = checked_mul(rows, cols, name);
    Tensor t;
    t.type = DType::Q8_GROUPED;
    t.rows = rows;
    t.cols = cols;
    t.data = r_.take(n, name);
    const std::uint64_t n_groups = n / gs;
    const std::byte* raw_scales = r_.take(checked_mul(n_groups, 4, name), name);
    // Kernels want groups inside rows. llama2.c's exporter picks the group size from dim
    // alone, so for e.g. hidden_dim 1376 with group 64 the groups of w2 straddle rows (and
    // llama2.c's own runner then applies wrong scales). Regroup exactly: the largest size
    // dividing both cols and gs keeps each new group inside one old group, whose scale it
    // inherits. Misaligned scales are copied too (unaligned float loads are UB).
    const int g = static_cast<int>(std::gcd<std::int64_t>(cols, gs));
    const bool aligned = reinterpret_cast<std::uintptr_t>(raw_scales) % alignof(float) == 0;
    t.group_size = g;
    if (g == gs && aligned) {
      t.scales = reinterpret_cast<const float*>(raw_scales);
      return t;
    }
    const std::uint64_t new_groups = n / g;
    auto buf = std::make_unique<std::byte[]>(new_groups * sizeof(float));
    auto* out = reinterpret_cast<float*>(buf.get());
    for (std::uint64_t i = 0; i < new_groups; ++i) {
      const std::uint64_t old_group = i * g / gs;
      std::memcpy(&out[i], raw_scales + old_group * 4, 4);
    }
    t.scales = out;
    owned_.push_back(std::move(buf));
    return t;
  }

  void skip(std::uint64_t n_floats, const char* name) { floats(n_floats, name); }

 private:
  ByteReader& r_;
  std::vector<std::unique_ptr<std::byte[]>>& owned_;
};

struct Header {
  Config config;
  int version = 0;
  bool shared_classifier = true;
  int group_size = 0;
};

Header read_header(ByteReader& r) {
  Header h;
  const auto magic = r.read<std::uint32_t>("magic");
  if (magic == kLlama2cMagic) {
    h.version = r.read<std::int32_t>("version");
    if (h.version != 1 && h.version != 2)
      r.fail("unknown checkpoint version " + std::to_string(h.version) + " (supported: 0, 1, 2)");
  } else {
    r.seek(0);  // version 0 has no magic: the first int32 is dim
  }
  std::int32_t f[7];
  for (auto& v : f) v = r.read<std::int32_t>("header");
  Config& c = h.config;
  c.dim = f[0];
  c.hidden_dim = f[1];
  c.n_layers = f[2];
  c.n_heads = f[3];
  c.n_kv_heads = f[4];
  std::int64_t vocab = f[5];
  c.seq_len = f[6];
  if (h.version == 0) {
    // Version 0 marks an unshared classifier by a negative vocab size.
    h.shared_classifier = vocab > 0;
    vocab = std::llabs(vocab);
  } else {
    h.shared_classifier = r.read<std::uint8_t>("shared_classifier") != 0;
  }
  // Range-check before narrowing, so the message shows the value the file really holds
  // (v0's |INT_MIN| does not fit an int).
  if (vocab > (1 << 30)) r.fail("invalid model header: vocab_size " + std::to_string(f[5]) + " out of range");
  c.vocab_size = static_cast<int>(vocab);
  if (h.version == 2) {
    h.group_size = r.read<std::int32_t>("group_size");
    if (h.group_size <= 0 || h.group_size > (1 << 16))
      r.fail("group_size " + std::to_string(h.group_size) + " out of range");
  }
  try {
    validate(c);
  } catch (const Error& e) {
    // Name the file; and since version 0 has no magic, any non-checkpoint file ends up here:
    // say how it was read.
    r.fail(std::string(e.what()) + (h.version == 0 ? " (no 'ak42' magic: read as a version 0 checkpoint)" : ""));
  }
  if (h.version == 2 && c.dim % h.group_size != 0)
    r.fail("group_size " + std::to_string(h.group_size) + " does not divide dim");
  // take(), not seek(): a file that ends inside the 256-byte header is reported as truncated.
  if (h.version != 0) r.take(kLlama2cHeaderBytes - r.offset(), "header");
  return h;
}

}  // namespace

std::shared_ptr<const Model> load_llama2c(MappedFile file) {
  ByteReader r(file.bytes(), "'" + file.path() + "'");
  const Header h = read_header(r);
  const Config& c = h.config;
  const std::int64_t L = c.n_layers, dim = c.dim, hidden = c.hidden_dim, kv_dim = c.kv_dim(),
                     vocab = c.vocab_size, head_size = c.head_size();
  std::vector<std::unique_ptr<std::byte[]>> owned;
  TensorCursor cur(r, owned);
  Weights w;
  w.layers.resize(L);

  // Per-layer tensors are stored kind by kind: all layers' wq, then all layers' wk, ...
  auto per_layer_matrix = [&](Tensor LayerWeights::*member, std::int64_t rows, std::int64_t cols,
                              const char* name) {
    for (auto& layer : w.layers)
      layer.*member = h.version == 2 ? cur.q8(rows, cols, h.group_size, name) : cur.f32(rows, cols, name);
  };
  auto per_layer_norm = [&](std::span<const float> LayerWeights::*member, const char* name) {
    for (auto& layer : w.layers) layer.*member = cur.floats(dim, name);
  };
  auto matrix = [&](std::int64_t rows, std::int64_t cols, const char* name) {
    return h.version == 2 ? cur.q8(rows, cols, h.group_size, name) : cur.f32(rows, cols, name);
  };

  if (h.version == 0) {
    w.token_embedding = cur.f32(vocab, dim, "token_embedding");
    per_layer_norm(&LayerWeights::rms_att, "rms_att_weight");
  } else {
    per_layer_norm(&LayerWeights::rms_att, "rms_att_weight");
    per_layer_norm(&LayerWeights::rms_ffn, "rms_ffn_weight");
    w.rms_final = cur.floats(dim, "rms_final_weight");
    w.token_embedding = matrix(vocab, dim, "token_embedding");
  }
  per_layer_matrix(&LayerWeights::wq, dim, dim, "wq");
  per_layer_matrix(&LayerWeights::wk, kv_dim, dim, "wk");
  per_layer_matrix(&LayerWeights::wv, kv_dim, dim, "wv");
  per_layer_matrix(&LayerWeights::wo, dim, dim, "wo");
  if (h.version == 0) per_layer_norm(&LayerWeights::rms_ffn, "rms_ffn_weight");
  per_layer_matrix(&LayerWeights::w1, hidden, dim, "w1");
  per_layer_matrix(&LayerWeights::w2, dim, hidden, "w2");
  per_layer_matrix(&LayerWeights::w3, hidden, dim, "w3");
  if (h.version == 0) {
    w.rms_final = cur.floats(dim, "rms_final_weight");
    cur.skip(checked_mul(c.seq_len, head_size, "freq_cis"), "freq_cis");  // real + imag halves
  }
  w.wcls = h.shared_classifier ? w.token_embedding : matrix(vocab, dim, "wcls");

  const ModelFormat format = h.version == 0   ? ModelFormat::Llama2cV0
                             : h.version == 1 ? ModelFormat::Llama2cV1
                                              : ModelFormat::Llama2cV2;
  return std::make_shared<const Model>(std::move(file), c, std::move(w), format, std::move(owned));
}

}  // namespace llama2
