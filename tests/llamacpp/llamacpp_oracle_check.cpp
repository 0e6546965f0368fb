// llamacpp_oracle_check MODEL.gguf CASES.json [TOLERANCE]: our engine against what llamacpp_oracle.mjs
// recorded from llama.cpp on the same file, for each prompt:
//   1. our tokens of the prompt = llama.cpp's (its tokenize() leaves out the BOS its completion
//      adds, as encode_prompt adds ours, when the vocabulary asks for one);
//   2. the 32 greedy pieces are the same;
//   3. along llama.cpp's sampled run, at every step, the probability we give each of its top-5
//      pieces is within TOLERANCE (default 1e-3) of its own, and its sampled piece is one of our
//      tokens.
// Prints each difference (at most 10) and exits 1 if there is any.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "core/utf8.hpp"
#include "kernels/ops.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/vocabulary.hpp"
#include "transformer/state.hpp"
#include "transformer/transformer.hpp"

using llama2::TokenId;
using nlohmann::json;

namespace {

std::string as_json(const std::string& s) { return json(s).dump(-1, ' ', false, json::error_handler_t::replace); }

// A piece as it reaches JavaScript from llama.node: invalid UTF-8 (a piece holding part of a
// character) becomes U+FFFD per maximal ill-formed subpart.
std::string as_javascript_sees_it(std::string_view bytes) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size();) {
    std::size_t bad;
    char32_t cp;
    if (const std::size_t n = llama2::utf8_sequence(bytes, i, bad, cp)) {
      out.append(bytes.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      i += bad;
    }
  }
  return out;
}

struct Engine {
  const llama2::Model& model;
  const llama2::Tokenizer& tokenizer;
  llama2::ThreadPool& pool;
  // Piece text as llama.cpp reports it -> id; -1 where several tokens read the same (pieces of
  // split characters, all "\uFFFD" to JavaScript).
  std::unordered_map<std::string, TokenId> by_piece;

  std::string piece(TokenId id) const {
    // llama.cpp writes a control token's text; our decode() writes nothing for it.
    if (tokenizer.is_byte_level() && tokenizer.is_control(id)) return std::string(tokenizer.piece(id));
    return as_javascript_sees_it(tokenizer.decode(tokenizer.eos(), id));
  }

};

// One sequence fed token by token; `probs` is the next-token distribution after the last.
struct Run {
  const Engine& engine;
  llama2::State state;
  int pos = 0;
  std::vector<float> probs;

  Run(const Engine& e, int capacity) : engine(e), state(e.model.config(), capacity) {}
  void feed(TokenId token) {
    const std::span<const float> logits = llama2::forward(engine.model, state, token, pos++, engine.pool);
    probs.assign(logits.begin(), logits.end());
    llama2::ops::softmax(probs.data(), static_cast<int>(probs.size()));
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: llamacpp_oracle_check MODEL.gguf CASES.json [TOLERANCE]\n");
    return 2;
  }
  const double tolerance = argc == 4 ? std::atof(argv[3]) : 1e-3;
  double worst = 0;
  try {
    const auto model = llama2::Model::load(argv[1]);
    const llama2::Tokenizer tokenizer = llama2::make_tokenizer(*model->vocabulary());
    llama2::ThreadPool pool(1);
    Engine engine{*model, tokenizer, pool, {}};
    // A sentencepiece byte token (<0x2C>) decodes like the text piece of that byte (","):
    // llama.cpp's piece names the text piece, so those are entered first.
    for (const bool bytes : {false, true})
      for (TokenId id = 0; id < tokenizer.vocab_size(); ++id) {
        const bool is_byte = !tokenizer.is_byte_level() && tokenizer.piece(id).starts_with("<0x");
        const std::string p = engine.piece(id);
        if (is_byte != bytes || p.empty()) continue;
        const auto [it, added] = engine.by_piece.emplace(p, id);
        if (!added && !bytes && p.find("\xEF\xBF\xBD") != std::string::npos) it->second = -1;
      }
    std::ifstream in(argv[2]);
    const json data = json::parse(in);
    int failures = 0, steps = 0, ambiguous = 0;
    auto report = [&](const std::string& prompt, const std::string& what) {
      if (++failures <= 10) std::cout << "DIFF prompt " << as_json(prompt) << ": " << what << "\n";
    };
    for (const json& c : data["cases"]) {
      const std::string prompt = c["prompt"];
      const auto ids = c["ids"].get<std::vector<TokenId>>();
      // 1. the prompt's tokens
      const std::vector<TokenId> ours = tokenizer.encode_prompt(prompt);
      std::vector<TokenId> theirs = ids;
      if (tokenizer.adds_bos()) theirs.insert(theirs.begin(), tokenizer.bos());
      if (ours != theirs) report(prompt, "prompt tokens differ from llama.cpp's");

      // 2. greedy
      const int capacity = static_cast<int>(ours.size() + c["greedy"].size() + c["sampled"].size()) + 1;
      Run greedy(engine, capacity);
      for (TokenId t : ours) greedy.feed(t);
      std::string greedy_ours, greedy_theirs;
      for (const json& p : c["greedy"]) greedy_theirs += p.get<std::string>();
      for (std::size_t k = 0; k < c["greedy"].size(); ++k) {
        const std::vector<float>& probs = greedy.probs;
        const TokenId next = static_cast<TokenId>(std::max_element(probs.begin(), probs.end()) - probs.begin());
        greedy_ours += engine.piece(next);
        greedy.feed(next);
      }
      if (greedy_ours != greedy_theirs)
        report(prompt, "greedy text\n  ours:   " + as_json(greedy_ours) + "\n  theirs: " + as_json(greedy_theirs));

      // 3. probabilities along llama.cpp's sampled run
      Run sampled(engine, capacity);
      for (TokenId t : ours) sampled.feed(t);
      for (std::size_t k = 0; k < c["sampled"].size(); ++k) {
        const json& step = c["sampled"][k];
        const std::vector<float>& probs = sampled.probs;
        ++steps;
        for (const json& top : step["top"]) {
          const std::string piece = top[0];
          const double theirs = top[1];
          const auto it = engine.by_piece.find(piece);
          if (it == engine.by_piece.end()) {
            report(prompt, "llama.cpp's piece " + as_json(piece) + " is none of our tokens");
            continue;
          }
          if (it->second < 0) {  // which of the split-character tokens: unknown
            ++ambiguous;
            continue;
          }
          worst = std::max(worst, std::fabs(probs[it->second] - theirs));
          if (std::fabs(probs[it->second] - theirs) > tolerance)
            report(prompt, "step " + std::to_string(k) + ", piece " + as_json(piece) + ": ours " +
                               std::to_string(probs[it->second]) + ", llama.cpp " + std::to_string(theirs));
        }
        const auto next = engine.by_piece.find(step["piece"].get<std::string>());
        if (next == engine.by_piece.end()) {
          report(prompt, "llama.cpp's sampled piece is none of our tokens");
          break;
        }
        if (next->second < 0) break;  // a split character: the path cannot be followed further
        sampled.feed(next->second);
      }
    }
    std::cout << data["cases"].size() << " prompts: greedy runs and " << steps << " sampled steps compared ("
              << ambiguous << " probabilities of split-character pieces skipped), largest probability difference "
              << worst << " (tolerance " << tolerance << ")"
              << (failures ? ", " + std::to_string(failures) + " differences" : ", all agree") << "\n";
    return failures ? 1 : 0;
  } catch (const llama2::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
