// ============================================================================
// llama2 serve <model>: an OpenAI-compatible HTTP server with continuous batching.
// ============================================================================
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <string>
#include <thread>

#include "cli/cli_util.hpp"
#include "cli/commands.hpp"
#include "core/thread_pool.hpp"
#include "format/gguf.hpp"
#include "tokenizer/vocabulary.hpp"
#include "generation/chat_template.hpp"
#include "model/model.hpp"
#include "server/metrics.hpp"
#include "server/scheduler.hpp"
#include "server/server.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2::cli {

namespace {

struct ServeOptions {
  std::string model;
  std::string tokenizer = "tokenizer.bin";
  std::string host = "127.0.0.1";
  int port = 8080;
  int parallel = 4;
  int threads = ThreadPool::hardware_threads();
  int ctx = 0;
  std::string api_key;
  int queue = 64;
  std::size_t max_body = 1 << 20;
  std::string chat_template, chat_template_file;
  std::string alias;
  double grace = 10;
  bool no_prompt_cache = false;
  int lookup_ngram = 0;  // speculative decoding with prompt lookup (0: off)
  std::string draft_model;  // or with a draft model (empty: none)
  int draft_max = 8;
};

// The id clients see in /v1/models and responses: the file name without its extension.
std::string model_id(const std::string& path) { return std::filesystem::path(path).stem().string(); }

}  // namespace

int serve_command(int argc, char** argv) {
  // SIGINT/SIGTERM are taken by one thread with sigwait(). Blocking them here, before any
  // thread exists, makes every thread (the pool, httplib's workers) inherit the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client that disconnects mid-stream makes the next write fail with EPIPE; the default
  // SIGPIPE would kill the whole server instead.
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"llama2 serve: OpenAI-compatible HTTP server (/v1/completions, /v1/chat/completions, a chat page at /)"};
  app.name("llama2 serve");
  ServeOptions o;
  app.add_option("model", o.model, "model file (llama2.c .bin or GGUF)")->required();
  app.add_option("-z,--tokenizer", o.tokenizer, "tokenizer file (default: a GGUF model's own vocabulary)")
      ->capture_default_str();
  app.add_option("--host", o.host, "address to listen on")->capture_default_str();
  app.add_option("--port", o.port, "port to listen on; 0 = any free port (printed on stderr)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--parallel", o.parallel, "sequences generated at once (slots, one KV cache each)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--threads", o.threads, "compute threads (default: all cores)")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  app.add_option("--ctx", o.ctx, "context per slot in tokens, prompt + reply (default: the model's)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--api-key", o.api_key, "require \"Authorization: Bearer KEY\" on /v1/* (default: $LLAMA2_API_KEY)")
      ->envname("LLAMA2_API_KEY");
  app.add_option("--queue", o.queue, "requests that may wait for a slot; more get 503")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  app.add_option("--max-body", o.max_body, "largest request body in bytes; larger get 413")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30));
  add_chat_template_options(app, o.chat_template, o.chat_template_file);
  add_speculative_options(app, o.lookup_ngram, o.draft_model, o.draft_max);
  app.add_flag("--no-prompt-cache", o.no_prompt_cache,
               "feed every prompt whole (default: reuse a free slot's KV cache for the longest matching prefix)");
  app.add_option("--alias", o.alias, "model id in the API (default: the file name without extension)");
  app.add_option("--shutdown-grace", o.grace, "seconds running requests get to finish on SIGINT/SIGTERM")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  if (auto status = parse(app, argc, argv)) return *status;
  const bool tokenizer_given = app.get_option("-z")->count() > 0;
  check_one_draft_source(o.lookup_ngram, o.draft_model);

  const auto model = Model::load(o.model);
  const Tokenizer tokenizer = (!tokenizer_given && model->vocabulary())
                                  ? make_tokenizer(*model->vocabulary())
                                  : Tokenizer::load(o.tokenizer, model->config().vocab_size);
  const ChatFormat chat_format_used = chat_format(*model, tokenizer, o.chat_template, o.chat_template_file);

  server::Metrics metrics;
  server::SchedulerOptions scheduling;
  scheduling.parallel = o.parallel;
  scheduling.queue = o.queue;
  scheduling.context = o.ctx;
  scheduling.threads = o.threads;
  scheduling.prompt_cache = !o.no_prompt_cache;
  scheduling.lookup_ngram = o.lookup_ngram;
  scheduling.draft_max = o.draft_max;
  if (!o.draft_model.empty()) scheduling.draft = Model::load(o.draft_model);
  server::Scheduler scheduler(model, tokenizer, scheduling, &metrics);

  server::ServerOptions serving;
  serving.host = o.host;
  serving.port = o.port;
  serving.api_key = o.api_key;
  serving.max_body = o.max_body;
  serving.model_name = o.alias.empty() ? model_id(o.model) : o.alias;
  serving.chat_format = chat_format_used;
  server::Server server(scheduler, tokenizer, metrics, serving);
  const int port = server.bind();
  std::string speculative;
  if (o.lookup_ngram > 0) speculative = ", lookup " + std::to_string(o.lookup_ngram);
  if (!o.draft_model.empty()) speculative = ", draft " + model_id(o.draft_model);
  if (!speculative.empty()) speculative += " (up to " + std::to_string(o.draft_max) + " drafts)";
  std::fprintf(stderr,
               "llama2 serve: model %s on http://%s:%d (parallel %d, context %d, threads %d, chat template %s%s)\n",
               serving.model_name.c_str(), o.host.c_str(), port, o.parallel, scheduler.context(), o.threads,
               chat_format_used.describe().c_str(), speculative.c_str());

  // The first signal starts a graceful shutdown; a second one cancels what is still running.
  std::atomic<bool> stopping{false};
  std::thread signals([&] {
    std::thread shutdown;
    const timespec poll{0, 200'000'000};
    while (!stopping.load()) {
      if (sigtimedwait(&stop_signals, nullptr, &poll) < 0) continue;
      if (!shutdown.joinable()) {
        std::fprintf(stderr, "llama2 serve: shutting down (finishing running requests; signal again to cancel them)\n");
        shutdown = std::thread([&] { server.shutdown(std::chrono::milliseconds(static_cast<long>(o.grace * 1000))); });
      } else {
        scheduler.cancel_all();
      }
    }
    if (shutdown.joinable()) shutdown.join();
  });
  server.run();
  stopping = true;
  signals.join();
  std::fprintf(stderr, "llama2 serve: stopped\n");
  return 0;
}

}  // namespace llama2::cli
