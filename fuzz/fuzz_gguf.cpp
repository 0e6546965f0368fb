// libFuzzer target for GGUF: parses the input as a GGUF file from memory, reads every
// metadata array back, builds the llama weights and vocabulary from it, runs the tokenizer
// over the vocabulary and, when the model is small, reads every row of every weight view
// through the dequantizer the forward pass uses. Any problem must surface as llama2::Error;
// ASan/UBSan catch everything else (reads outside the input included).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "format/gguf.hpp"
#include "tokenizer/vocabulary.hpp"
#include "tokenizer/tokenizer.hpp"

namespace {

void read_arrays(const llama2::GgufFile& f) {
  for (const auto& kv : f.metadata) {
    if (kv.value.type != llama2::GgufValueType::Array) continue;
    try {
      switch (kv.value.element_type) {
        case llama2::GgufValueType::String: (void)f.get_string_array(kv.key); break;
        case llama2::GgufValueType::Float32:
        case llama2::GgufValueType::Float64: (void)f.get_float_array(kv.key); break;
        case llama2::GgufValueType::Array:
        case llama2::GgufValueType::Bool: break;
        default: (void)f.get_int_array(kv.key); break;
      }
    } catch (const llama2::Error&) {
      // out-of-range integers are reported, not crashed on
    }
  }
}

// Small enough to read every weight quickly (the fuzzer needs thousands of runs a second).
bool small(const llama2::Config& c) {
  return c.dim <= 256 && c.hidden_dim <= 1024 && c.n_layers <= 4 && c.vocab_size <= 4096;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto bytes = std::as_bytes(std::span(data, size));
  try {
    const llama2::GgufFile f = llama2::parse_gguf(bytes, "fuzz");
    read_arrays(f);
    const llama2::GgufLlama llama = llama2::read_gguf_llama(f);
    if (llama.vocabulary) {
      const llama2::Tokenizer tokenizer = llama2::make_tokenizer(*llama.vocabulary);
      const auto ids = tokenizer.encode("Once upon a time", true, false);
      (void)tokenizer.decode_all(ids);
    }
    if (small(llama.config)) {
      const llama2::Weights& w = llama.weights;
      std::vector<float> row(static_cast<std::size_t>(std::max(llama.config.dim, llama.config.hidden_dim)));
      auto touch = [&](const llama2::Tensor& t) {
        for (std::int64_t r = 0; r < t.rows; ++r) llama2::dequantize_row(t, r, row.data());
      };
      touch(w.token_embedding);
      touch(w.wcls);
      for (const auto& l : w.layers)
        for (const llama2::Tensor* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w1, &l.w2, &l.w3}) touch(*t);
    }
  } catch (const llama2::Error&) {
    return 0;  // a clean rejection is the right outcome for a malformed file
  }
  return 0;
}
