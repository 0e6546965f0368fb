// jinja_oracle_check CASES.json [NAME=VOCAB.gguf ...]: renders every case jinja_oracle.mjs
// recorded with our Jinja interpreter and compares with what @huggingface/jinja made of it: the
// same text, or an error where it raised one. For a template NAME given a GGUF file with its
// vocabulary, the conversation's tokens (encode_conversation: render, parse special tokens,
// encode) must also equal tokenizers.js's ids. Prints each difference (at most 10) and exits 1
// if there is any.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <algorithm>
#include <map>
#include <sstream>

#include "core/error.hpp"
#include "generation/chat_template.hpp"
#include "generation/jinja.hpp"
#include "model/model.hpp"
#include "tokenizer/vocabulary.hpp"

using llama2::jinja::Json;

namespace {

std::string as_json(const std::string& s) { return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace); }

// The two texts from a little before where they first differ.
std::string difference(const std::string& ours, const std::string& theirs) {
  std::size_t i = 0;
  while (i < ours.size() && i < theirs.size() && ours[i] == theirs[i]) ++i;
  const std::size_t from = i > 40 ? i - 40 : 0;
  return "at byte " + std::to_string(i) + "\n  ours:   " + as_json(ours.substr(from, 160)) +
         "\n  theirs: " + as_json(theirs.substr(from, 160));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: jinja_oracle_check CASES.json [NAME=VOCAB.gguf ...]\n");
    return 2;
  }
  std::map<std::string, llama2::Tokenizer> vocabularies;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const std::size_t eq = arg.find('=');
    const auto model = llama2::Model::load(arg.substr(eq + 1));
    vocabularies.emplace(arg.substr(0, eq), llama2::make_tokenizer(*model->vocabulary()));
  }
  std::map<std::string, int> tokenized;
  std::ifstream in(argv[1]);
  const Json data = Json::parse(in);
  std::map<std::string, llama2::jinja::Template> templates;
  for (auto it = data["templates"].begin(); it != data["templates"].end(); ++it)
    templates.emplace(it.key(), llama2::jinja::Template::parse(it->get<std::string>()));
  llama2::jinja::RenderOptions options;
  const Json& today = data["today"];
  options.now = [&] {
    std::tm t{};
    t.tm_year = today[0].get<int>() - 1900;
    t.tm_mon = today[1].get<int>() - 1;
    t.tm_mday = today[2].get<int>();
    std::mktime(&t);  // fills the weekday
    return t;
  };
  std::map<std::string, int> rendered, refused;
  int failures = 0;
  for (const Json& c : data["cases"]) {
    const std::string name = c["template"];
    std::string ours, error;
    try {
      ours = templates.at(name).render(c["context"], options);
    } catch (const llama2::Error& e) {
      error = e.what();
    }
    std::string problem;
    if (c.contains("error")) {
      if (error.empty()) problem = "@huggingface/jinja raised \"" + c["error"].get<std::string>() + "\", we rendered " + as_json(ours);
      else ++refused[name];
    } else if (!error.empty()) {
      problem = "we raised \"" + error + "\", @huggingface/jinja rendered " + as_json(c["output"]);
    } else if (ours != c["output"].get<std::string>()) {
      problem = difference(ours, c["output"].get<std::string>());
    } else {
      ++rendered[name];
      // encode_conversation renders messages only (tool requests go through the server's
      // built-in ChatML path), so conversations with `tools` are compared as text only.
      auto v = vocabularies.find(name);
      if (v != vocabularies.end() && c.contains("ids") && !c["context"].contains("tools")) {
        const auto ids = llama2::encode_conversation(v->second, templates.at(name), c["context"]["messages"],
                                                     c["context"]["add_generation_prompt"].get<bool>());
        const auto theirs = c["ids"].get<std::vector<llama2::TokenId>>();
        if (ids != theirs) {
          const std::size_t at = std::mismatch(ids.begin(), ids.end(), theirs.begin(), theirs.end()).first - ids.begin();
          auto around = [&](const std::vector<llama2::TokenId>& t) {
            std::string out;
            for (std::size_t k = at > 3 ? at - 3 : 0; k < std::min(t.size(), at + 4); ++k)
              out += std::to_string(t[k]) + "(" + as_json(std::string(v->second.piece(t[k]))) + ") ";
            return out;
          };
          problem = "tokens differ from tokenizers.js's at " + std::to_string(at) + "\n  ours:   " + around(ids) +
                    "\n  theirs: " + around(theirs);
        } else {
          ++tokenized[name];
        }
      }
    }
    if (!problem.empty() && ++failures <= 10)
      std::cout << "DIFF " << name << " context " << c["context"].dump() << "\n  " << problem << "\n";
  }
  for (const auto& [name, n] : rendered)
    std::cout << name << ": " << n << " renderings equal (" << tokenized[name] << " also in tokens), " << refused[name]
              << " refused by both\n";
  if (failures) std::cout << failures << " of " << data["cases"].size() << " cases differ\n";
  return failures ? 1 : 0;
}
