#include "format/random_checkpoint.hpp"

#include <cmath>
#include <cstdio>
#include <memory>
#include <vector>

#include "core/error.hpp"

namespace llama2 {

Config published_shape(const std::string& name) {
  Config c;
  c.vocab_size = 32000;
  c.seq_len = 256;
  if (name == "15M") {
    c.dim = 288, c.hidden_dim = 768, c.n_layers = 6, c.n_heads = 6, c.n_kv_heads = 6;
  } else if (name == "42M") {
    c.dim = 512, c.hidden_dim = 1376, c.n_layers = 8, c.n_heads = 8, c.n_kv_heads = 8;
    c.seq_len = 1024;
  } else if (name == "110M") {
    c.dim = 768, c.hidden_dim = 2048, c.n_layers = 12, c.n_heads = 12, c.n_kv_heads = 12;
    c.seq_len = 1024;
  } else {
    throw UsageError("unknown shape '" + name + "' (known: 15M, 42M, 110M)");
  }
  return c;
}

namespace {
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

class Writer {
 public:
  Writer(const std::string& path, std::uint64_t seed) : f_(std::fopen(path.c_str(), "wb")), state_(seed | 1) {
    if (!f_) throw Error("cannot create '" + path + "'");
  }
  void ints(std::initializer_list<std::int32_t> v) {
    for (std::int32_t x : v) std::fwrite(&x, 4, 1, f_.get());
  }
  // n values uniform in [center - spread, center + spread], written in chunks.
  void uniform(std::uint64_t n, float center, float spread) {
    std::vector<float> buf(1 << 16);
    while (n > 0) {
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(n, buf.size()));
      for (std::size_t i = 0; i < k; ++i) buf[i] = center + spread * (2.0f * next() - 1.0f);
      if (std::fwrite(buf.data(), 4, k, f_.get()) != k) throw Error("write failed");
      n -= k;
    }
  }
  void finish() {
    if (std::fflush(f_.get()) != 0) throw Error("write failed");
  }

 private:
  float next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return static_cast<float>((state_ * 0x2545F4914F6CDD1Dull) >> 40) / 16777216.0f;
  }
  std::unique_ptr<std::FILE, FileCloser> f_;
  std::uint64_t state_;
};
}  // namespace

void write_random_checkpoint(const std::string& path, const Config& c, bool shared_classifier,
                             std::uint64_t seed) {
  validate(c);
  Writer w(path, seed);
  const std::uint64_t L = c.n_layers, dim = c.dim, hidden = c.hidden_dim, kv = c.kv_dim(),
                      vocab = c.vocab_size;
  w.ints({c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
          shared_classifier ? c.vocab_size : -c.vocab_size, c.seq_len});
  const float in_dim = 1.0f / std::sqrt(static_cast<float>(dim));
  const float in_hidden = 1.0f / std::sqrt(static_cast<float>(hidden));
  w.uniform(vocab * dim, 0.0f, 1.0f);            // token_embedding
  w.uniform(L * dim, 1.0f, 0.1f);                // rms_att
  w.uniform(L * dim * dim, 0.0f, in_dim);        // wq
  w.uniform(L * kv * dim, 0.0f, in_dim);         // wk
  w.uniform(L * kv * dim, 0.0f, in_dim);         // wv
  w.uniform(L * dim * dim, 0.0f, in_dim);        // wo
  w.uniform(L * dim, 1.0f, 0.1f);                // rms_ffn
  w.uniform(L * hidden * dim, 0.0f, in_dim);     // w1
  w.uniform(L * dim * hidden, 0.0f, in_hidden);  // w2
  w.uniform(L * hidden * dim, 0.0f, in_dim);     // w3
  w.uniform(dim, 1.0f, 0.1f);                    // rms_final
  w.uniform(static_cast<std::uint64_t>(c.seq_len) * c.head_size(), 0.0f, 0.0f);  // freq_cis (unused)
  if (!shared_classifier) w.uniform(vocab * dim, 0.0f, in_dim);                 // wcls
  w.finish();
}

}  // namespace llama2
