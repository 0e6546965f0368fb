// ============================================================================
// llama2 <checkpoint> [options]: generate or chat, with run.c's flags and defaults.
// ============================================================================
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <string>

#include "cli/cli_util.hpp"
#include "cli/commands.hpp"
#include "core/thread_pool.hpp"
#include "format/gguf.hpp"
#include "tokenizer/vocabulary.hpp"
#include "generation/chat.hpp"
#include "generation/generate.hpp"
#include "generation/speculative.hpp"
#include "model/model.hpp"
#include "sampling/sampler.hpp"
#include "tokenizer/tokenizer.hpp"
#include "transformer/state.hpp"

namespace llama2::cli {

namespace {

struct RunOptions {
  std::string checkpoint;
  float temperature = 1.0f;
  float topp = 0.9f;
  long long seed = 0;
  int steps = 256;
  std::string prompt;
  std::string tokenizer = "tokenizer.bin";
  bool tokenizer_given = false;  // -z on the command line (else a GGUF's own vocabulary wins)
  std::string chat_template;       // --chat-template; empty: the model's, else llama2
  std::string chat_template_file;  // --chat-template-file: a Jinja template instead of the model's
  std::string mode = "generate";
  std::string system_prompt;
  int threads = ThreadPool::hardware_threads();
  bool ids = false;
  // Speculative decoding (generate mode): one draft source.
  int lookup_ngram = 0;
  std::string draft_model;
  int draft_max = 8;
};

void add_options(CLI::App& app, RunOptions& o) {
  app.add_option("checkpoint", o.checkpoint, "model file (llama2.c .bin version 0, 1 or 2, or GGUF)")->required();
  app.add_option("-t,--temperature", o.temperature, "temperature in [0, inf); 0 = greedy")
      ->capture_default_str()
      ->check(number_in(0.0, std::numeric_limits<double>::max(), "[0, inf)"));
  app.add_option("-p,--topp", o.topp, "top-p (nucleus) sampling mass in [0, 1]; 0 or 1 = off")
      ->capture_default_str()
      ->check(number_in(0.0, 1.0, "[0, 1]"));
  app.add_option("-s,--seed", o.seed, "random seed; 0 or negative = from the clock")->capture_default_str();
  app.add_option("-n,--steps", o.steps, "positions to run; 0 = the model's context")
      ->capture_default_str()
      ->check(number_in(0.0, std::numeric_limits<int>::max(), "[0, 2^31)"));
  app.add_option("-i,--prompt", o.prompt, "input prompt (with --ids: token ids, spaces or commas)");
  app.add_option("-z,--tokenizer", o.tokenizer, "tokenizer file (default: a GGUF model's own vocabulary)")
      ->capture_default_str();
  add_chat_template_options(app, o.chat_template, o.chat_template_file);
  app.add_option("-m,--mode", o.mode, "generate or chat")
      ->capture_default_str()
      ->check(CLI::IsMember({"generate", "chat"}));
  app.add_option("-y,--system", o.system_prompt, "system prompt in chat mode");
  app.add_option("--threads", o.threads, "worker threads (default: all cores)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_flag("--ids", o.ids,
               "-i is a list of token ids and stdout gets the whole sequence as ids (no tokenizer needed)");
  add_speculative_options(app, o.lookup_ngram, o.draft_model, o.draft_max);
}

// The model's own vocabulary unless -z names a tokenizer file.
Tokenizer load_tokenizer(const Model& model, const RunOptions& o) {
  if (!o.tokenizer_given && model.vocabulary()) return make_tokenizer(*model.vocabulary());
  // The default -z is tokenizer.bin in the current folder, so a missing tokenizer is the most
  // common mistake: say that the file is the tokenizer and how to give another (a plain
  // "cannot open" would not).
  if (!std::filesystem::exists(o.tokenizer))
    throw Error("tokenizer '" + o.tokenizer + "' not found (give one with -z, or use --ids)");
  return Tokenizer::load(o.tokenizer, model.config().vocab_size);
}


int run_generate(const Model& model, const RunOptions& o, ThreadPool& pool) {
  const Config& c = model.config();
  const int steps = resolve_steps(o.steps, c);
  std::optional<Tokenizer> tokenizer;
  std::vector<TokenId> prompt;
  if (o.ids) {
    prompt = parse_token_ids(o.prompt);
    if (prompt.empty()) prompt.push_back(model.vocabulary() ? model.vocabulary()->bos : kBosToken);
  } else {
    tokenizer.emplace(load_tokenizer(model, o));
    prompt = tokenizer->encode_prompt(o.prompt);
  }
  State state(c, steps);
  Sampler sampler(c.vocab_size, {o.temperature, o.topp, static_cast<std::uint64_t>(o.seed <= 0 ? 0 : o.seed)});

  TokenCallback print_piece;
  if (tokenizer) {
    print_piece = [&](TokenId prev, TokenId next) {
      const std::string_view piece = tokenizer->decode(prev, next);
      if (tokenizer->is_printable(piece)) emit(piece);
    };
  }
  // What ends the text: the vocabulary's own set (with --ids, run.c's BOS).
  const std::vector<TokenId> stops =
      tokenizer ? tokenizer->generation_stops() : std::vector<TokenId>(std::begin(kStoryEnd), std::end(kStoryEnd));
  // The loops report each token after the first, which is normally BOS; a vocabulary that
  // starts without one (Qwen's) has text there, printed here.
  if (print_piece && !tokenizer->is_control(prompt.front())) print_piece(-1, prompt.front());
  GenerationResult result;
  if (o.lookup_ngram > 0 || !o.draft_model.empty()) {
    std::shared_ptr<const Model> draft;
    if (!o.draft_model.empty()) draft = Model::load(o.draft_model);
    const SpeculativeOptions spec{o.draft_max, o.lookup_ngram, draft.get(), stops};
    SpeculativeStats stats;
    result = generate_speculative(model, state, sampler.settings(), prompt, steps, pool, spec, print_piece, &stats);
    std::fprintf(stderr, "speculative: %d passes, %d drafted, %d accepted (%.0f %%)\n", stats.passes, stats.drafted,
                 stats.accepted, stats.drafted ? 100.0 * stats.accepted / stats.drafted : 0.0);
  } else {
    result = generate(model, state, sampler, prompt, steps, pool, print_piece, stops);
  }
  if (o.ids) {
    std::string line;
    for (std::size_t i = 0; i < result.tokens.size(); ++i) {
      if (i) line += ' ';
      line += std::to_string(result.tokens[i]);
    }
    emit(line);
  }
  emit("\n");
  if (result.tokens_per_second > 0) std::fprintf(stderr, "achieved tok/s: %f\n", result.tokens_per_second);
  return 0;
}

int run_chat(const Model& model, const RunOptions& o, ThreadPool& pool) {
  if (o.ids) throw UsageError("--ids works in generate mode only");
  if (o.lookup_ngram > 0 || !o.draft_model.empty()) throw UsageError("--lookup and --draft work in generate mode only");
  const Config& c = model.config();
  const Tokenizer tokenizer = load_tokenizer(model, o);
  const int steps = resolve_steps(o.steps, c);
  State state(c, steps);
  Sampler sampler(c.vocab_size, {o.temperature, o.topp, static_cast<std::uint64_t>(o.seed <= 0 ? 0 : o.seed)});
  ChatOptions chat_options;
  chat_options.steps = steps;
  chat_options.system_prompt = o.system_prompt;
  chat_options.first_user_prompt = o.prompt;
  chat_options.format = chat_format(model, tokenizer, o.chat_template, o.chat_template_file);
  chat_options.stop_tokens = chat_stop_tokens(tokenizer, chat_options.format.builtin);
  // Like run.c, ask for a system prompt when none is given, but only at a terminal: piped
  // input is the user's turns, one per line.
  chat_options.ask_system_prompt = o.system_prompt.empty() && ::isatty(STDIN_FILENO);
  chat(model, tokenizer, state, sampler, chat_options, std::cin, std::cout, pool);
  return 0;
}

}  // namespace

int run_command(int argc, char** argv) {
  CLI::App app{
      "llama2: run a Llama-family model (llama2.c checkpoints or GGUF).\n"
      "Usage: llama2 <checkpoint> [options]   or   llama2 <command> --help\n"
      "Commands: tokenize, bench, quantize, convert, perplexity, serve"};
  app.name("llama2");
  RunOptions o;
  add_options(app, o);
  if (auto status = parse(app, argc, argv)) return *status;
  o.tokenizer_given = app.get_option("-z")->count() > 0;
  if (o.prompt.empty() && o.ids) throw UsageError("--ids needs -i with the prompt's token ids");
  check_one_draft_source(o.lookup_ngram, o.draft_model);

  const auto model = Model::load(o.checkpoint);
  ThreadPool pool(o.threads);
  return o.mode == "chat" ? run_chat(*model, o, pool) : run_generate(*model, o, pool);
}

}  // namespace llama2::cli
