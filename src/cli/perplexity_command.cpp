// ============================================================================
// llama2 perplexity MODEL (-f text.txt [-z tokenizer.bin] | --ids-file ids.txt)
//                         [--kl-divergence BASE] [-c context] [--threads N]
// Perplexity over consecutive windows of the context (tools/perplexity.hpp); with a base model
// also KL(base || model), top-1 agreement and the base's perplexity, to judge a quantization.
// Results go to stdout, progress to stderr.
// ============================================================================
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_util.hpp"
#include "cli/commands.hpp"
#include "core/mapped_file.hpp"
#include "core/thread_pool.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tools/perplexity.hpp"

namespace llama2::cli {

int perplexity_command(int argc, char** argv) {
  CLI::App app{
      "llama2 perplexity: how well a model predicts a text, and how close it is to a base model.\n"
      "  llama2 perplexity MODEL -f text.txt [-z tokenizer.bin]\n"
      "  llama2 perplexity MODEL --ids-file ids.txt [--kl-divergence BASE]\n"
      "The tokens are split into documents at each BOS, and those into windows of -c tokens,\n"
      "each run from an empty context; every position but a window's first is scored."};
  app.name("llama2 perplexity");
  std::string model_path, tokenizer_path, text_path, ids_path, base_path;
  int context = 0;
  int threads = ThreadPool::hardware_threads();
  app.add_option("model", model_path, "model file (llama2.c checkpoint or GGUF)")->required();
  app.add_option("-f,--file", text_path, "text file to score (tokenized with -z, or the model's own vocabulary)");
  app.add_option("-z,--tokenizer", tokenizer_path, "tokenizer.bin for -f");
  app.add_option("--ids-file", ids_path, "file of token ids (separated by spaces, commas or newlines)");
  app.add_option("--kl-divergence", base_path, "base model to compare with (same vocabulary)");
  app.add_option("-c,--context", context, "tokens per window; 0 = the model's context")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--threads", threads, "worker threads (default: all cores)")->capture_default_str()->check(CLI::Range(1, 1024));
  if (auto status = parse(app, argc, argv)) return *status;
  if (text_path.empty() == ids_path.empty()) throw UsageError("give exactly one of -f text.txt and --ids-file ids.txt");

  const auto model = Model::load(model_path);
  std::shared_ptr<const Model> base;
  if (!base_path.empty()) base = Model::load(base_path);

  std::vector<TokenId> tokens;
  if (!ids_path.empty()) {
    tokens = parse_token_ids(read_file(ids_path));
  } else {
    std::optional<Tokenizer> tokenizer;
    if (!tokenizer_path.empty()) {
      tokenizer.emplace(Tokenizer::load(tokenizer_path, model->config().vocab_size));
    } else if (model->vocabulary()) {
      tokenizer.emplace(model->vocabulary()->pieces, model->vocabulary()->scores);
    } else {
      throw UsageError("-f needs a tokenizer: give -z tokenizer.bin (this model has no vocabulary of its own)");
    }
    tokens = tokenizer->encode(read_file(text_path), /*bos=*/true, /*eos=*/false);
  }

  ThreadPool pool(threads);
  const PerplexityResult r = evaluate_perplexity(
      *model, base.get(), tokens, context, pool, [](int window, int windows, const PerplexityResult& so_far) {
        std::fprintf(stderr, "\r[%d/%d] perplexity so far %.4f", window, windows, so_far.model.perplexity());
        if (window == windows) std::fputc('\n', stderr);
      },
      model->vocabulary() ? model->vocabulary()->bos : kBosToken);

  std::printf("tokens: %zu, predictions: %lld\n", tokens.size(), static_cast<long long>(r.model.predictions));
  std::fflush(stdout);
  std::printf("perplexity: %.6f (mean NLL %.6f nats)\n", r.model.perplexity(), r.model.mean_nll());
  if (base) {
    const double ratio = r.model.perplexity() / r.base.perplexity() - 1.0;
    std::printf("base perplexity: %.6f (model is %+.3f%%)\n", r.base.perplexity(), 100.0 * ratio);
    std::printf("mean KL(base || model): %.6g nats (max %.6g)\n", r.mean_kl(), r.kl_max);
    std::printf("top-1 agreement: %.3f%% (%lld of %lld)\n", 100.0 * r.top1_agreement(),
                static_cast<long long>(r.top1_agree), static_cast<long long>(r.model.predictions));
  }
  return 0;
}

}  // namespace llama2::cli
