// Tokenizer micro-benchmarks: encoding 100 KB of English prose (target: well under 0.5 s;
// the reference's quadratic merge loop takes minutes), and decoding it back.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.hpp"

namespace {

constexpr int kLlamaVocab = 32000;
constexpr std::size_t kProseBytes = 100 * 1000;

std::string tokenizer_path() {
  const char* env = std::getenv("LLAMA2_TEST_DATA");
  return std::string(env && *env ? env : LLAMA2_DEFAULT_TEST_DATA) + "/models/tokenizer.bin";
}

const llama2::Tokenizer& tokenizer() {
  static const llama2::Tokenizer t = llama2::Tokenizer::load(tokenizer_path(), kLlamaVocab);
  return t;
}

// Deterministic prose-like text: sentences of common words with capitals, commas, periods
// and paragraph breaks, drawn with a fixed-seed LCG so every run encodes the same bytes.
std::string english_prose(std::size_t bytes) {
  static const char* const kWords[] = {
      "the", "of", "and", "to", "a", "in", "that", "is", "was", "he", "for", "it", "with", "as", "his",
      "on", "be", "at", "by", "had", "not", "are", "but", "from", "or", "have", "an", "they", "which",
      "one", "you", "were", "her", "all", "she", "there", "would", "their", "we", "him", "been", "has",
      "when", "who", "will", "more", "no", "if", "out", "so", "said", "what", "up", "its", "about",
      "into", "than", "them", "can", "only", "other", "new", "some", "could", "time", "these", "two",
      "may", "then", "do", "first", "any", "my", "now", "such", "like", "our", "over", "man", "me",
      "even", "most", "made", "after", "also", "did", "many", "before", "must", "through", "back",
      "years", "where", "much", "your", "way", "well", "down", "should", "because", "each", "just",
      "those", "people", "how", "too", "little", "state", "good", "very", "make", "world", "still",
      "own", "see", "men", "work", "long", "get", "here", "between", "both", "life", "being", "under",
      "never", "day", "same", "another", "know", "while", "last", "might", "us", "great", "old", "year",
      "off", "come", "since", "against", "go", "came", "right", "used", "take", "three", "garden",
      "river", "morning", "village", "remembered", "quietly", "beautiful", "understanding", "happened",
      "government", "children", "together", "whispered", "mountains", "afterwards", "nevertheless"};
  constexpr std::size_t kWordCount = sizeof(kWords) / sizeof(kWords[0]);
  std::uint64_t state = 0x9E3779B97F4A7C15ull;
  const auto next = [&state](std::size_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<std::size_t>((state >> 33) % n);
  };

  std::string text;
  text.reserve(bytes + 64);
  while (text.size() < bytes) {
    const std::size_t sentence_words = 6 + next(14);
    for (std::size_t w = 0; w < sentence_words; ++w) {
      std::string word = kWords[next(kWordCount)];
      if (w == 0) word[0] = static_cast<char>(word[0] - 'a' + 'A');
      text += word;
      if (w + 1 < sentence_words) text += next(8) == 0 ? ", " : " ";
    }
    text += next(10) == 0 ? ".\n\n" : ". ";
  }
  text.resize(bytes);
  return text;
}

void BM_EncodeProse100KB(benchmark::State& state) {
  const std::string text = english_prose(kProseBytes);
  std::size_t tokens = 0;
  for (auto _ : state) {
    std::vector<llama2::TokenId> ids = tokenizer().encode(text, /*bos=*/true, /*eos=*/false);
    tokens = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["tokens"] = static_cast<double>(tokens);
}
BENCHMARK(BM_EncodeProse100KB)->Unit(benchmark::kMillisecond);

void BM_DecodeProse100KB(benchmark::State& state) {
  const std::vector<llama2::TokenId> ids = tokenizer().encode(english_prose(kProseBytes), true, false);
  for (auto _ : state) {
    std::string text = tokenizer().decode_all(ids);
    benchmark::DoNotOptimize(text.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * ids.size()));
}
BENCHMARK(BM_DecodeProse100KB)->Unit(benchmark::kMillisecond);

void BM_LoadTokenizer(benchmark::State& state) {
  for (auto _ : state) {
    llama2::Tokenizer t = llama2::Tokenizer::load(tokenizer_path(), kLlamaVocab);
    benchmark::DoNotOptimize(&t);
  }
}
BENCHMARK(BM_LoadTokenizer)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
