// The HTTP front end of `llama2 serve`: OpenAI-compatible endpoints over the scheduler,
// plus /health, /metrics and a chat page at /. httplib stays behind this interface, so
// nothing outside src/server needs its header.
#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "generation/chat_template.hpp"
#include "server/metrics.hpp"
#include "server/scheduler.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                    // 0: any free port (bind() tells which)
  std::string api_key;                // non-empty: /v1/* needs "Authorization: Bearer <key>"
  std::size_t max_body = 1 << 20;     // larger request bodies get 413
  std::string model_name = "llama2";  // the id in /v1/models and in responses
  ChatFormat chat_format;
  // HTTP worker threads. Each streaming request holds one for its whole life, so there must
  // be one per slot and per queue place, plus a few for /health and /metrics. 0: that many.
  int http_threads = 0;
};

class Server {
 public:
  Server(Scheduler& scheduler, const Tokenizer& tokenizer, Metrics& metrics, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket and returns its port. Throws Error when that fails.
  int bind();
  // Serves until shutdown() (called from another thread) has finished.
  void run();
  // Graceful stop: new requests get 503 and queued ones are cancelled; running ones get up
  // to `grace` to finish before they are cancelled too; then the listener closes.
  void shutdown(std::chrono::milliseconds grace);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace llama2::server
