// bpe_oracle_check MODEL.gguf PRE CASES: the vocabulary of a GGUF file that `llama2 convert
// --hf-tokenizer` wrote from a Hugging Face tokenizer.json (as llama.cpp's converter does),
// loaded back as the engine's Tokenizer, must be recognised as pre-tokenizer PRE and give
// tokenizers.js's ids for every case bpe_oracle.mjs wrote (special tokens in the text parsed,
// no BOS), and its pieces must join back into tokenizers.js's decoding.
// Prints the first mismatches; exit status 1 if there is any.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/vocabulary.hpp"

namespace {

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: bpe_oracle_check MODEL.gguf PRE cases.jsonl\n");
    return 2;
  }
  try {
    const auto model = llama2::Model::load(argv[1]);
    if (!model->vocabulary() || !model->vocabulary()->byte_level())
      throw llama2::Error(std::string(argv[1]) + " has no byte-level vocabulary");
    if (model->vocabulary()->pre != argv[2])
      throw llama2::Error("pre-tokenizer recognised as '" + model->vocabulary()->pre + "', expected '" + argv[2] + "'");
    const llama2::Tokenizer tokenizer = llama2::make_tokenizer(*model->vocabulary());
    std::ifstream cases(argv[3]);
    int n = 0, wrong = 0;
    for (std::string line; std::getline(cases, line);) {
      if (line.empty()) continue;
      const auto c = nlohmann::json::parse(line);
      const std::string text = from_hex(c.at("hex"));
      const auto want = c.at("ids").get<std::vector<llama2::TokenId>>();
      const auto got = tokenizer.encode(text, /*bos=*/false, /*eos=*/false, /*parse_special=*/true);
      std::string decoded;
      for (const llama2::TokenId id : got) decoded += tokenizer.piece(id);
      ++n;
      if (got == want && decoded == from_hex(c.at("decoded"))) continue;
      if (++wrong <= 10) {
        std::string g, w;
        for (auto id : got) g += std::to_string(id) + " ";
        for (auto id : want) w += std::to_string(id) + " ";
        std::printf("MISMATCH %s\n  ours:   %s\n  theirs: %s\n  decode %s\n", c.at("hex").get<std::string>().c_str(), g.c_str(),
                    w.c_str(), decoded == from_hex(c.at("decoded")) ? "same" : "differs");
      }
    }
    std::printf("%d of %d strings encoded as tokenizers.js does\n", n - wrong, n);
    return wrong == 0 && n > 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
