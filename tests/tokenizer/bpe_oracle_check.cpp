// bpe_oracle_check tokenizer.json PRE CASES: our BpeTokenizer, built from a Hugging Face
// tokenizer.json the way llama.cpp's converter reads one (tokens in id order, added special
// tokens as control, other added tokens user-defined, merges as "left right"), must give
// tokenizers.js's ids for every case bpe_oracle.mjs wrote, and decode them back to its text.
// Prints the first mismatches; exit status 1 if there is any.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "tokenizer/bpe.hpp"

namespace {

std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

llama2::BpeTokenizer load(const std::string& path, llama2::PreTokenizer pre) {
  std::ifstream f(path);
  const nlohmann::json j = nlohmann::json::parse(f);
  const nlohmann::json& model = j.at("model");
  std::vector<std::string> tokens;
  std::vector<std::int32_t> types;
  auto put = [&](std::size_t id, const std::string& token, std::int32_t type) {
    if (id >= tokens.size()) tokens.resize(id + 1), types.resize(id + 1, 5);  // gaps: unused
    tokens[id] = token;
    types[id] = type;
  };
  for (const auto& [token, id] : model.at("vocab").items()) put(id.get<std::size_t>(), token, 1);
  for (const auto& t : j.at("added_tokens")) put(t.at("id").get<std::size_t>(), t.at("content"), t.at("special").get<bool>() ? 3 : 4);
  std::vector<std::string> merges;
  for (const auto& m : model.at("merges"))
    merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());
  return llama2::BpeTokenizer(std::move(tokens), merges, std::move(types), pre, model.value("ignore_merges", false));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: bpe_oracle_check tokenizer.json PRE cases.jsonl\n");
    return 2;
  }
  try {
    const llama2::BpeTokenizer bpe = load(argv[1], llama2::pre_tokenizer_from_name(argv[2]));
    std::ifstream cases(argv[3]);
    int n = 0, wrong = 0;
    for (std::string line; std::getline(cases, line);) {
      if (line.empty()) continue;
      const auto c = nlohmann::json::parse(line);
      const std::string text = from_hex(c.at("hex"));
      const auto want = c.at("ids").get<std::vector<llama2::TokenId>>();
      const auto got = bpe.encode(text, true);
      const std::string decoded = bpe.decode(got);
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
