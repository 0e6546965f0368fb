// The Engine facade: the CLI's generate mode (src/cli/run_command.cpp) behind a pointer.
#include "llama2/engine.hpp"

#include <optional>
#include <type_traits>

#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "core/types.hpp"
#include "generation/generate.hpp"
#include "model/model.hpp"
#include "sampling/sampler.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/vocabulary.hpp"
#include "transformer/state.hpp"

namespace llama2 {

static_assert(std::is_same_v<TokenId, std::int32_t>, "engine.hpp's TokenId must be core/types.hpp's");

namespace {

// generate() has no way to stop early; its callback throws this to unwind out of the loop.
struct StopRequested {};

// As the CLI chooses: the model's own vocabulary unless a tokenizer file is named.
Tokenizer open_tokenizer(const Model& model, const std::string& tokenizer_path) {
  if (tokenizer_path.empty()) {
    if (model.vocabulary()) return make_tokenizer(*model.vocabulary());
    throw Error("model '" + model.path() + "' has no vocabulary of its own: give a tokenizer file");
  }
  return Tokenizer::load(tokenizer_path, model.config().vocab_size);
}

}  // namespace

struct Engine::Impl {
  Impl(std::shared_ptr<const Model> loaded, const std::string& tokenizer_path, int threads)
      : model(std::move(loaded)),
        tokenizer(open_tokenizer(*model, tokenizer_path)),
        pool(threads > 0 ? threads : ThreadPool::hardware_threads()) {}

  std::shared_ptr<const Model> model;
  Tokenizer tokenizer;
  ThreadPool pool;
};

Engine::Engine(const std::string& model_path, const std::string& tokenizer_path, int threads)
    : impl_(std::make_unique<Impl>(Model::load(model_path), tokenizer_path, threads)) {}

Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

std::vector<TokenId> Engine::tokenize(std::string_view text, bool bos, bool eos) const {
  return impl_->tokenizer.encode(text, bos, eos);
}

std::string Engine::detokenize(std::span<const TokenId> tokens) const {
  if (tokens.empty()) return {};
  // decode_all treats its first token as context only; a leading BOS context keeps the first
  // real token's text (and drops its leading space, as after BOS in a generation).
  if (tokens.front() == impl_->tokenizer.bos()) return impl_->tokenizer.decode_all(tokens);
  std::vector<TokenId> with_bos;
  with_bos.reserve(tokens.size() + 1);
  with_bos.push_back(impl_->tokenizer.bos());
  with_bos.insert(with_bos.end(), tokens.begin(), tokens.end());
  return impl_->tokenizer.decode_all(with_bos);
}

Generation Engine::generate(std::string_view prompt_text, const GenerateOptions& options,
                            const PieceCallback& on_piece) {
  const Model& model = *impl_->model;
  const Config& config = model.config();
  const Tokenizer& tokenizer = impl_->tokenizer;
  if (options.steps < 0) throw Error("steps must be >= 0 (0 = the model's context)");
  const int steps = resolve_steps(options.steps, config);
  const SamplerSettings settings{options.temperature, options.topp, options.seed};
  validate(settings, config.vocab_size);

  const std::vector<TokenId> prompt = tokenizer.encode_prompt(prompt_text);  // as the CLI reads it
  Generation out;
  out.tokens = prompt;
  State state(config, steps);
  Sampler sampler(config.vocab_size, settings);
  // The generated ids are collected here, not taken from generate()'s result, because a stop
  // unwinds past that result. The callback sees every token after the first, prompt included:
  // call k reports sequence position k + 1.
  const auto report = [&](TokenId prev, TokenId next) {
    const std::string_view piece = tokenizer.decode(prev, next);
    if (!tokenizer.is_printable(piece)) return;
    out.text += piece;
    if (on_piece && !on_piece(piece)) throw StopRequested{};
  };
  std::size_t position = 0;
  const TokenCallback collect = [&](TokenId prev, TokenId next) {
    if (++position >= prompt.size()) out.tokens.push_back(next);
    report(prev, next);
  };
  try {
    // The loop reports each token after the first, normally BOS; a vocabulary that starts
    // without one has text there (as the CLI prints it).
    if (!tokenizer.is_control(prompt.front())) report(-1, prompt.front());
    llama2::generate(model, state, sampler, prompt, steps, impl_->pool, collect, tokenizer.generation_stops());
  } catch (const StopRequested&) {
    out.stopped = true;
  }
  return out;
}

int Engine::vocab_size() const { return impl_->model->config().vocab_size; }
int Engine::context_length() const { return impl_->model->config().seq_len; }
int Engine::threads() const { return impl_->pool.size(); }

}  // namespace llama2
