// Prints a story through llama2::Engine, as `llama2 <model> -z <tokenizer> -t 0 -n 64 -i <prompt>` does.
//   consumer_cpp <model> <tokenizer> [prompt]
#include <cstdio>
#include <stdexcept>

#include <llama2/engine.hpp>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: consumer_cpp <model> <tokenizer> [prompt]\n");
    return 2;
  }
  try {
    llama2::Engine engine(argv[1], argv[2], /*threads=*/1);
    llama2::GenerateOptions options;
    options.steps = 64;
    options.temperature = 0.0f;
    engine.generate(argc > 3 ? argv[3] : "Once upon a time", options, [](std::string_view piece) {
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      return true;
    });
    std::printf("\n");
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
