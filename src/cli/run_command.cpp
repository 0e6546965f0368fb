// ============================================================================
// llama2 <checkpoint> [options]: generate or chat, with run.c's flags and defaults.
// ============================================================================
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "cli/cli_util.hpp"
#include "cli/commands.hpp"
#include "core/thread_pool.hpp"
#include "generation/chat.hpp"
#include "generation/generate.hpp"
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
  std::string mode = "generate";
  std::string system_prompt;
  int threads = ThreadPool::hardware_threads();
  bool ids = false;
};

void add_options(CLI::App& app, RunOptions& o) {
  app.add_option("checkpoint", o.checkpoint, "model file (llama2.c .bin, version 0, 1 or 2)")->required();
  app.add_option("-t,--temperature", o.temperature, "temperature in [0, inf); 0 = greedy")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("-p,--topp", o.topp, "top-p (nucleus) sampling mass in [0, 1]; 0 or 1 = off")
      ->capture_default_str()
      ->check(CLI::Range(0.0f, 1.0f));
  app.add_option("-s,--seed", o.seed, "random seed; 0 or negative = from the clock")->capture_default_str();
  app.add_option("-n,--steps", o.steps, "positions to run; 0 = the model's context")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("-i,--prompt", o.prompt, "input prompt (with --ids: token ids, spaces or commas)");
  app.add_option("-z,--tokenizer", o.tokenizer, "tokenizer file")->capture_default_str();
  app.add_option("-m,--mode", o.mode, "generate or chat")
      ->capture_default_str()
      ->check(CLI::IsMember({"generate", "chat"}));
  app.add_option("-y,--system", o.system_prompt, "system prompt in chat mode");
  app.add_option("--threads", o.threads, "worker threads (default: all cores)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_flag("--ids", o.ids,
               "-i is a list of token ids and stdout gets the whole sequence as ids (no tokenizer needed)");
}

int run_generate(const Model& model, const RunOptions& o, ThreadPool& pool) {
  const Config& c = model.config();
  const int steps = resolve_steps(o.steps, c);
  std::optional<Tokenizer> tokenizer;
  std::vector<TokenId> prompt;
  if (o.ids) {
    prompt = parse_token_ids(o.prompt);
    if (prompt.empty()) prompt.push_back(kBosToken);
  } else {
    tokenizer.emplace(Tokenizer::load(o.tokenizer, c.vocab_size));
    prompt = tokenizer->encode(o.prompt, /*bos=*/true, /*eos=*/false);
  }
  State state(c, steps);
  Sampler sampler(c.vocab_size, {o.temperature, o.topp, static_cast<std::uint64_t>(o.seed <= 0 ? 0 : o.seed)});

  TokenCallback print_piece;
  if (tokenizer) {
    print_piece = [&](TokenId prev, TokenId next) {
      const std::string_view piece = tokenizer->decode(prev, next);
      if (Tokenizer::is_printable(piece)) emit(piece);
    };
  }
  const GenerationResult result = generate(model, state, sampler, prompt, steps, pool, print_piece);
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
  const Config& c = model.config();
  const Tokenizer tokenizer = Tokenizer::load(o.tokenizer, c.vocab_size);
  const int steps = resolve_steps(o.steps, c);
  State state(c, steps);
  Sampler sampler(c.vocab_size, {o.temperature, o.topp, static_cast<std::uint64_t>(o.seed <= 0 ? 0 : o.seed)});
  ChatOptions chat_options;
  chat_options.steps = steps;
  chat_options.system_prompt = o.system_prompt;
  chat_options.first_user_prompt = o.prompt;
  // Like run.c, ask for a system prompt when none is given, but only at a terminal: piped
  // input is the user's turns, one per line.
  chat_options.ask_system_prompt = o.system_prompt.empty() && ::isatty(STDIN_FILENO);
  chat(model, tokenizer, state, sampler, chat_options, std::cin, std::cout, pool);
  return 0;
}

}  // namespace

int run_command(int argc, char** argv) {
  CLI::App app{
      "llama2: run a Llama-family model (llama2.c checkpoints).\n"
      "Usage: llama2 <checkpoint> [options]   or   llama2 <command> --help\n"
      "Commands: tokenize"};
  app.name("llama2");
  RunOptions o;
  add_options(app, o);
  if (auto status = parse(app, argc, argv)) return *status;
  if (o.prompt.empty() && o.ids) throw UsageError("--ids needs -i with the prompt's token ids");

  const auto model = Model::load(o.checkpoint);
  ThreadPool pool(o.threads);
  return o.mode == "chat" ? run_chat(*model, o, pool) : run_generate(*model, o, pool);
}

}  // namespace llama2::cli
