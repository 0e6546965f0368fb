#include "sampling/constraint.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <numeric>

#include "core/error.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2 {

std::vector<std::string> TokenTrie::token_bytes(const Tokenizer& tokenizer) {
  std::vector<std::string> bytes(static_cast<std::size_t>(tokenizer.vocab_size()));
  for (TokenId id = 0; id < tokenizer.vocab_size(); ++id) {
    if (tokenizer.is_control(id)) continue;
    // After any token but BOS a piece keeps its leading space; a reply never follows BOS
    // directly except for an empty completion prompt, where a leading space is invalid JSON anyway.
    bytes[static_cast<std::size_t>(id)] = std::string(tokenizer.decode(kEosToken, id));
  }
  return bytes;
}

TokenTrie::TokenTrie(const std::vector<std::string>& token_bytes)
    : bytes_(token_bytes), vocab_size_(static_cast<int>(token_bytes.size())) {
  // Tokens sorted by their bytes: each trie node's tokens and children are then contiguous
  // runs, built breadth-first from ranges of the sorted list.
  std::vector<TokenId> order;
  for (TokenId id = 0; id < vocab_size_; ++id)
    if (!bytes_[static_cast<std::size_t>(id)].empty()) order.push_back(id);
  std::stable_sort(order.begin(), order.end(),
                   [&](TokenId a, TokenId b) { return bytes_[static_cast<std::size_t>(a)] < bytes_[static_cast<std::size_t>(b)]; });
  struct Pending {
    std::size_t begin, end, depth;  // a range of `order` sharing `depth` leading bytes
  };
  std::vector<Pending> queue{{0, order.size(), 0}};
  nodes_.push_back(Node{});
  for (std::size_t q = 0; q < queue.size(); ++q) {
    auto [begin, end, depth] = queue[q];
    Node& node = nodes_[q];
    node.tokens_begin = static_cast<std::uint32_t>(tokens_.size());
    while (begin < end && bytes_[static_cast<std::size_t>(order[begin])].size() == depth) tokens_.push_back(order[begin++]);
    node.tokens_end = static_cast<std::uint32_t>(tokens_.size());
    node.children_begin = static_cast<std::uint32_t>(queue.size());
    while (begin < end) {
      const char byte = bytes_[static_cast<std::size_t>(order[begin])][depth];
      std::size_t run = begin;
      while (run < end && bytes_[static_cast<std::size_t>(order[run])][depth] == byte) ++run;
      queue.push_back({begin, run, depth + 1});
      Node child;
      child.byte = static_cast<std::uint8_t>(byte);
      nodes_.push_back(child);
      begin = run;
    }
    nodes_[q].children_end = static_cast<std::uint32_t>(queue.size());
  }
}

TokenConstraint::TokenConstraint(std::shared_ptr<const TokenTrie> trie,
                                 std::shared_ptr<const json_schema::Grammar> grammar, std::vector<TokenId> end_tokens)
    : trie_(std::move(trie)), grammar_(std::move(grammar)), acceptor_(*grammar_), end_tokens_(std::move(end_tokens)) {}

void TokenConstraint::walk(std::uint32_t node, std::size_t level, std::vector<bool>& allowed) {
  const TokenTrie::Node& n = trie_->nodes()[node];
  if (levels_.size() <= level + 1) levels_.resize(level + 2);
  for (std::uint32_t c = n.children_begin; c < n.children_end; ++c) {
    const TokenTrie::Node& child = trie_->nodes()[c];
    if (!acceptor_.step(levels_[level], child.byte, levels_[level + 1])) continue;
    for (TokenId id : trie_->tokens(child)) allowed[static_cast<std::size_t>(id)] = true;
    walk(c, level + 1, allowed);
  }
}

std::vector<bool> TokenConstraint::allowed() {
  std::vector<bool> allowed(static_cast<std::size_t>(trie_->vocab_size()), false);
  if (ended_) return allowed;
  if (levels_.empty()) levels_.resize(1);
  levels_[0] = acceptor_.stacks();
  walk(0, 0, allowed);
  // An end token (ChatML's <|im_end|> has bytes, so the walk may have let it through as
  // text) ends the reply: only once the value is whole.
  const bool complete = acceptor_.complete();
  for (TokenId id : end_tokens_) allowed[static_cast<std::size_t>(id)] = complete;
  return allowed;
}

int TokenConstraint::apply(std::span<float> logits) {
  const std::vector<bool> ok = allowed();
  int count = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) {
    if (i < ok.size() && ok[i]) {
      ++count;
    } else {
      logits[i] = -std::numeric_limits<float>::infinity();
    }
  }
  return count;
}

void TokenConstraint::accept(TokenId token) {
  if (token < 0 || token >= trie_->vocab_size()) throw Error("token " + std::to_string(token) + " is outside the vocabulary");
  if (ended_) throw Error("the constrained reply has already ended");
  if (std::find(end_tokens_.begin(), end_tokens_.end(), token) != end_tokens_.end()) {
    if (!acceptor_.complete()) throw Error("an end token before the constrained value is complete");
    ended_ = true;
    return;
  }
  const std::string& bytes = trie_->bytes(token);
  if (bytes.empty() || !acceptor_.feed(bytes))
    throw Error("token " + std::to_string(token) + " leaves the constrained language");
}

}  // namespace llama2
