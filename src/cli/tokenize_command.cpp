// llama2 tokenize -z tokenizer.bin < text: prints the ids (BOS first) of stdin's text.
// llama2 tokenize --model MODEL.gguf < text: the same with the model's own vocabulary.
#include <iostream>
#include <iterator>
#include <string>

#include "cli/cli_util.hpp"
#include "cli/commands.hpp"
#include "model/model.hpp"
#include "tokenizer/vocabulary.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2::cli {

int tokenize_command(int argc, char** argv) {
  CLI::App app{"llama2 tokenize: print the token ids (BOS first, if the vocabulary uses one) of the text on stdin"};
  app.name("llama2 tokenize");
  std::string tokenizer_path = "tokenizer.bin";
  int vocab_size = 32000;
  bool no_bos = false, special = false;
  std::string model_path;
  app.add_option("-z,--tokenizer", tokenizer_path, "tokenizer file")->capture_default_str();
  app.add_option("-m,--model", model_path, "use this GGUF model's own vocabulary instead of -z")->excludes("-z");
  app.add_flag("--special", special, "special tokens written in the text (<|im_start|>) become their ids");
  app.add_option("--vocab", vocab_size, "vocabulary size of the tokenizer file")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 22));
  app.add_flag("--no-bos", no_bos, "do not prepend BOS");
  if (auto status = parse(app, argc, argv)) return *status;

  const Tokenizer tokenizer = [&] {
    if (model_path.empty()) return Tokenizer::load(tokenizer_path, vocab_size);
    const auto model = Model::load(model_path);
    if (!model->vocabulary()) throw Error("model '" + model_path + "' carries no vocabulary (use -z)");
    return make_tokenizer(*model->vocabulary());
  }();
  const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  const std::vector<TokenId> ids = tokenizer.encode(text, !no_bos, /*eos=*/false, special);
  std::string line;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i) line += ' ';
    line += std::to_string(ids[i]);
  }
  emit(line + "\n");
  return 0;
}

}  // namespace llama2::cli
