// The library from user code: load a model and a tokenizer, generate a story.
//   hello_world stories15M.bin tokenizer.bin "Once upon a time"
#include <cstdio>
#include <string>

#include "llama2.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: hello_world <checkpoint> <tokenizer.bin> [prompt]\n");
    return 2;
  }
  try {
    auto model = llama2::Model::load(argv[1]);
    const auto tokenizer = llama2::Tokenizer::load(argv[2], model->config().vocab_size);
    llama2::ThreadPool pool(llama2::ThreadPool::hardware_threads());
    const int steps = 128;
    llama2::State state(model->config(), steps);
    llama2::Sampler sampler(model->config().vocab_size, {/*temperature=*/0.8f, /*topp=*/0.9f, /*seed=*/42});
    const auto prompt = tokenizer.encode(argc > 3 ? argv[3] : "Once upon a time", true, false);
    llama2::generate(*model, state, sampler, prompt, steps, pool, [&](llama2::TokenId prev, llama2::TokenId next) {
      const auto piece = tokenizer.decode(prev, next);
      if (tokenizer.is_printable(piece)) std::fwrite(piece.data(), 1, piece.size(), stdout);
    });
    std::printf("\n");
  } catch (const llama2::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
