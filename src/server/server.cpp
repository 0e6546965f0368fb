#include "server/server.hpp"

#include <algorithm>
#include <httplib.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <random>
#include <thread>

#include "core/error.hpp"
#include "server/chat_page.hpp"
#include "server/openai.hpp"

namespace llama2::server {

using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kJson = "application/json";

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

const char* endpoint_label(Endpoint e) { return e == Endpoint::Completions ? "completions" : "chat"; }

// Compares without an early exit, so response timing does not reveal how much of a guessed
// key was right.
bool same_key(const std::string& given, const std::string& key) {
  if (given.size() != key.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < key.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ key[i]);
  return diff == 0;
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(error_body(e), kJson);
}

// httplib listens with a backlog of 5 connections: a burst of clients connecting at once
// (32 load-test streams, a proxy opening its pool) would see dropped SYNs and a 1 s retry.
// Linux lets listen() be called again on a listening socket to raise it.
class HttpServer : public httplib::Server {
 public:
  void raise_backlog(int backlog) { ::listen(svr_sock_, backlog); }
};

}  // namespace

struct Server::Impl {
  Impl(Scheduler& scheduler, const Tokenizer& tokenizer, Metrics& metrics, ServerOptions options)
      : scheduler(scheduler), tokenizer(tokenizer), metrics(metrics), options(std::move(options)) {}

  Scheduler& scheduler;
  const Tokenizer& tokenizer;
  Metrics& metrics;
  ServerOptions options;
  HttpServer http;
  std::atomic<bool> draining{false};
  std::atomic<int> in_flight{0};  // generation requests whose response is not yet complete
  std::mutex id_mutex;
  std::mt19937_64 id_rng{std::random_device{}()};

  void install_routes();
  void handle_generation(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);
  void stream(httplib::Response& res, std::vector<std::shared_ptr<RequestChannel>> channels, ResponseMeta meta,
              std::shared_ptr<const Tools> tools, bool logprobs, Clock::time_point start);
  std::string new_id(Endpoint endpoint);
  void log_request(const std::string& id, Endpoint endpoint, int status, const GenerationStats* stats,
                   const char* finish, double total_ms, const std::string& error = {});
};

std::string Server::Impl::new_id(Endpoint endpoint) {
  std::lock_guard lock(id_mutex);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(id_rng()));
  return std::string(endpoint == Endpoint::Completions ? "cmpl-" : "chatcmpl-") + buf;
}

// The one line per request that operators read: who, how much, how fast.
void Server::Impl::log_request(const std::string& id, Endpoint endpoint, int status, const GenerationStats* s,
                               const char* finish, double total_ms, const std::string& error) {
  metrics.count_request(endpoint_label(endpoint), status);
  if (s) {
    std::fprintf(stderr,
                 "request %s %s status=%d prompt_tokens=%d cached_tokens=%d generated_tokens=%d drafts_kept=%d/%d "
                 "queue_ms=%.1f ttft_ms=%.1f tok/s=%.1f finish=%s total_ms=%.1f\n",
                 id.c_str(), endpoint_label(endpoint), status, s->prompt_tokens, s->cached_tokens, s->completion_tokens,
                 s->accepted, s->drafted, s->queue_seconds * 1e3, s->ttft_seconds * 1e3, s->tokens_per_second, finish,
                 total_ms);
  } else {
    std::fprintf(stderr, "request %s %s status=%d error=\"%s\" total_ms=%.1f\n", id.c_str(), endpoint_label(endpoint),
                 status, error.c_str(), total_ms);
  }
}

namespace {
// One request's figures over its choices: the prompt once, the completions summed.
GenerationStats combined_stats(const std::vector<std::shared_ptr<RequestChannel>>& channels) {
  GenerationStats s = channels.front()->stats();
  for (std::size_t i = 1; i < channels.size(); ++i) s.completion_tokens += channels[i]->stats().completion_tokens;
  return s;
}
Usage usage_of(const GenerationStats& s) { return {s.prompt_tokens, s.completion_tokens, s.cached_tokens}; }

// The error a request reports when a choice ended other than by stop or length.
ApiError ended_badly(FinishReason reason, const std::string& error) {
  const bool failed = reason == FinishReason::Failed;
  return ApiError(failed ? 500 : 503, error.empty() ? "the request was cancelled" : error, {},
                  failed ? "internal_error" : "cancelled", "server_error");
}
bool completed(FinishReason r) { return r == FinishReason::Stop || r == FinishReason::Length; }

std::string call_id_prefix(const std::string& id, std::size_t choice) {
  return "call_" + id + "_" + (choice == 0 ? "" : std::to_string(choice) + "_");
}
}  // namespace

void Server::Impl::handle_generation(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
  const auto start = Clock::now();
  const std::string id = new_id(endpoint);
  std::vector<std::shared_ptr<RequestChannel>> channels;
  CompletionRequest request;
  try {
    if (draining) throw ApiError(503, "the server is shutting down", {}, "shutting_down", "server_error");
    request = parse_completion_request(req.body, endpoint);
    GenerationParams params;
    params.prompt = prompt_tokens(request, tokenizer, options.chat_format);
    params.max_tokens = resolve_max_tokens(request, static_cast<int>(params.prompt.size()), scheduler.context());
    SamplerSettings& s = params.sampling;
    s.temperature = request.temperature;
    s.topp = request.top_p;
    // The Sampler reads seed 0 as "from the clock"; a client's seed 0 must repeat like any other.
    if (request.seed) s.seed = *request.seed == 0 ? 0x5eed5eed5eed5eedull : *request.seed;
    s.top_k = request.top_k;
    s.min_p = request.min_p;
    s.repeat_penalty = request.repeat_penalty;
    s.penalty_last_n = request.repeat_last_n;
    s.presence_penalty = request.presence_penalty;
    s.frequency_penalty = request.frequency_penalty;
    for (const auto& [token, bias] : request.logit_bias)
      if (token >= tokenizer.vocab_size())
        throw ApiError(400, "'logit_bias': token id " + std::to_string(token) + " is outside the vocabulary (0.." +
                                std::to_string(tokenizer.vocab_size() - 1) + ")", "logit_bias");
    s.logit_bias = request.logit_bias;
    params.top_logprobs = request.logprobs.value_or(-1);
    params.stop = request.stop;
    params.grammar = request.grammar;
    // A required (or named) tool call: the reply is held to the form of a call.
    if (request.tools && request.tools->grammar) params.grammar = request.tools->grammar;
    // The vocabulary's ends of text and, for chat, the template's end of turn. A BOS of a
    // llama2.c vocabulary would start a new story, never part of a reply.
    params.stop_tokens = endpoint == Endpoint::ChatCompletions ? chat_stop_tokens(tokenizer, options.chat_format.builtin)
                                                               : tokenizer.reply_stops();
    for (const TokenId id : tokenizer.generation_stops())
      if (std::find(params.stop_tokens.begin(), params.stop_tokens.end(), id) == params.stop_tokens.end())
        params.stop_tokens.push_back(id);
    channels = scheduler.submit(std::move(params), request.n);
  } catch (const ApiError& e) {
    send_error(res, e);
    log_request(id, endpoint, e.status, nullptr, nullptr, ms_since(start), e.what());
    return;
  }

  ResponseMeta meta;
  meta.endpoint = endpoint;
  meta.id = id;
  meta.created = static_cast<std::int64_t>(std::time(nullptr));
  meta.model = options.model_name;
  meta.include_usage = request.include_usage;
  // Tool calls are read from the whole reply (see stream() for the streamed form).
  const std::shared_ptr<const Tools> tools =
      request.tools && request.tools->choice != ToolChoice::None ? request.tools : nullptr;
  if (request.stream)
    return stream(res, std::move(channels), std::move(meta), tools, request.logprobs.has_value(), start);

  // Whole response: collect each choice. (A client that leaves now is not noticed until the
  // reply is done: httplib offers no way to watch the socket while the handler runs.)
  ++in_flight;
  std::vector<Choice> choices(channels.size());
  std::optional<ApiError> failure;
  FinishReason first_finish = FinishReason::Stop;
  for (std::size_t i = 0; i < channels.size(); ++i) {
    Choice& choice = choices[i];
    if (request.logprobs) choice.logprobs.emplace();
    std::optional<FinishReason> finished;
    while (!finished) {
      auto u = channels[i]->wait(std::chrono::seconds(1));
      choice.text += u.text;
      if (choice.logprobs) choice.logprobs->insert(choice.logprobs->end(), u.logprobs.begin(), u.logprobs.end());
      finished = u.finished;
    }
    if (i == 0) first_finish = *finished;
    if (!completed(*finished)) {
      if (!failure) failure = ended_badly(*finished, channels[i]->error());
      continue;
    }
    choice.finish_reason = finish_reason_name(*finished);
    if (tools) choice.tool_calls = parse_tool_calls(choice.text, *tools, call_id_prefix(id, i));
    if (!choice.tool_calls.empty()) {
      choice.text = text_beside_tool_calls(choice.text);
      choice.finish_reason = "tool_calls";
    }
  }
  const GenerationStats stats = combined_stats(channels);
  if (failure) {
    send_error(res, *failure);
    log_request(id, endpoint, failure->status, &stats, finish_reason_name(first_finish), ms_since(start));
  } else {
    res.set_content(completion_body(meta, choices, usage_of(stats)), kJson);
    log_request(id, endpoint, 200, &stats, choices.front().finish_reason.c_str(), ms_since(start));
  }
  --in_flight;
}

// Server-sent events: httplib calls the provider again and again on this request's thread
// until it reports the end; each call waits for the next text of each unfinished choice.
void Server::Impl::stream(httplib::Response& res, std::vector<std::shared_ptr<RequestChannel>> channels,
                          ResponseMeta meta, std::shared_ptr<const Tools> tools, bool logprobs,
                          Clock::time_point start) {
  struct ChoiceState {
    std::shared_ptr<RequestChannel> channel;
    std::optional<FinishReason> finished;
    std::size_t offset = 0;  // text sent so far (for the legacy logprobs' text_offset)
    // With tools the reply is held back until it is whole: a tool call is only known once its
    // block is closed, and its arguments go out as one delta.
    std::string held;
    std::vector<TokenLogprob> held_logprobs;
  };
  struct StreamState {
    std::vector<ChoiceState> choices;
    std::vector<std::shared_ptr<RequestChannel>> channels;
    ResponseMeta meta;
    Clock::time_point start, last_write;
    bool sent_role = false;
    bool done = false;
    bool logprobs = false;
    std::shared_ptr<const Tools> tools;
  };
  auto st = std::make_shared<StreamState>();
  for (auto& c : channels) st->choices.push_back({c, {}, 0, {}, {}});
  st->channels = std::move(channels);
  st->meta = std::move(meta);
  st->start = start;
  st->tools = std::move(tools);
  st->logprobs = logprobs;
  st->last_write = Clock::now();
  ++in_flight;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");  // nginx: pass events on as they come
  res.set_chunked_content_provider(
      "text/event-stream",
      [st](std::size_t, httplib::DataSink& sink) {
        // A failed write means the client is gone: cancel, which frees the slots.
        auto write = [&](const std::string& s) {
          st->last_write = Clock::now();
          if (sink.write(s.data(), s.size())) return true;
          for (auto& c : st->channels) c->cancel();
          return false;
        };
        auto end_stream = [&] {
          if (!write(std::string(kStreamDone))) return false;
          st->done = true;
          sink.done();
          return true;
        };
        const int n = static_cast<int>(st->choices.size());
        if (!st->sent_role && st->meta.endpoint == Endpoint::ChatCompletions) {
          st->sent_role = true;  // the chat API's first chunk of each choice carries the role
          for (int i = 0; i < n; ++i)
            if (!write(stream_chunk(st->meta, "", "", /*first=*/true, i))) return false;
        }
        bool all_finished = true;
        for (int i = 0; i < n; ++i) {
          ChoiceState& c = st->choices[i];
          if (c.finished) continue;
          auto u = c.channel->wait(std::chrono::milliseconds(n == 1 ? 500 : 20));
          if (st->tools) {
            c.held += u.text;
            c.held_logprobs.insert(c.held_logprobs.end(), u.logprobs.begin(), u.logprobs.end());
          } else if (!u.text.empty() || !u.logprobs.empty()) {
            const ChunkLogprobs lp{std::move(u.logprobs), c.offset};
            if (!write(stream_chunk(st->meta, u.text, "", false, i, st->logprobs ? &lp : nullptr))) return false;
            c.offset += u.text.size();
          }
          if (!u.finished) {
            all_finished = false;
            continue;
          }
          c.finished = u.finished;
          if (!completed(*u.finished)) {
            // One choice failed: the request has; the others stop too.
            for (auto& other : st->channels) other->cancel();
            if (!write(stream_error(ended_badly(*u.finished, c.channel->error())))) return false;
            return end_stream();
          }
          const std::vector<ToolCall> calls =
              st->tools ? parse_tool_calls(c.held, *st->tools, call_id_prefix(st->meta.id, i)) : std::vector<ToolCall>{};
          const ChunkLogprobs held{std::move(c.held_logprobs), 0};
          const ChunkLogprobs* held_lp = st->logprobs && !held.tokens.empty() ? &held : nullptr;
          if (!calls.empty()) {
            const std::string beside = text_beside_tool_calls(c.held);
            if ((!beside.empty() || held_lp) && !write(stream_chunk(st->meta, beside, "", false, i, held_lp))) return false;
            if (!write(tool_calls_chunks(st->meta, calls, i)) || !write(stream_chunk(st->meta, "", "tool_calls", false, i)))
              return false;
          } else {
            if ((!c.held.empty() || held_lp) && !write(stream_chunk(st->meta, c.held, "", false, i, held_lp))) return false;
            if (!write(stream_chunk(st->meta, "", finish_reason_name(*u.finished), false, i))) return false;
          }
        }
        if (all_finished) {
          if (st->meta.include_usage && !write(stream_usage_chunk(st->meta, usage_of(combined_stats(st->channels)))))
            return false;
          return end_stream();
        }
        // Nothing for a while (queued behind others): an SSE comment keeps proxies from timing
        // out, and its failing write is how a client that left while waiting is noticed.
        if (Clock::now() - st->last_write > std::chrono::seconds(2) && !write(": waiting\n\n")) return false;
        return true;
      },
      [this, st](bool) {
        if (!st->done) {
          for (auto& c : st->channels) c->cancel();
          // The scheduler notices before its next pass; wait for that, so the log line has
          // the request's final numbers.
          for (auto& c : st->choices)
            for (int i = 0; i < 50 && !c.finished; ++i) c.finished = c.channel->wait(std::chrono::milliseconds(100)).finished;
        }
        const GenerationStats s = combined_stats(st->channels);
        const int status = st->done ? 200 : 499;  // 499: the client closed the connection (nginx's code)
        const auto& first = st->choices.front().finished;
        const char* finish = first ? finish_reason_name(*first) : "unknown";
        log_request(st->meta.id, st->meta.endpoint, status, &s, finish, ms_since(st->start));
        --in_flight;
      });
}

void Server::Impl::install_routes() {
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options.api_key.empty() || req.path.rfind("/v1/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.rfind(prefix, 0) == 0 && same_key(auth.substr(prefix.size()), options.api_key))
      return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, ApiError(401,
                             auth.empty() ? "missing API key: send \"Authorization: Bearer <key>\""
                                          : "incorrect API key provided",
                             {}, "invalid_api_key"));
    metrics.count_request("unauthorized", 401);
    return httplib::Server::HandlerResponse::Handled;
  });

  http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_generation(req, res, Endpoint::Completions);
  });
  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_generation(req, res, Endpoint::ChatCompletions);
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(models_body(options.model_name, static_cast<std::int64_t>(std::time(nullptr))), kJson);
  });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    // 503 while shutting down, so a load balancer stops sending requests here.
    if (draining) {
      res.status = 503;
      res.set_content(R"({"status":"shutting down"})", kJson);
    } else {
      res.set_content(R"({"status":"ok"})", kJson);
    }
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(), "text/plain; version=0.0.4");
  });
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(kChatPageHtml, "text/html; charset=utf-8");
  });

  // httplib's own refusals (413 for a body over --max-body, 404, ...) come without a body:
  // give them OpenAI's error shape too. Responses that already have a body are left alone.
  http.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                      httplib::Response& res) {
    if (!res.body.empty() || res.is_chunked_content_provider_) return httplib::Server::HandlerResponse::Unhandled;
    std::string message = "HTTP " + std::to_string(res.status);
    std::string code;
    if (res.status == 413) {
      message = "the request body is larger than the limit of " + std::to_string(options.max_body) + " bytes";
      code = "request_too_large";
    } else if (res.status == 404) {
      message = "no route for " + req.method + " " + req.path;
      code = "not_found";
    }
    send_error(res, ApiError(res.status, message, {}, code));
    metrics.count_request("other", res.status);
    return httplib::Server::HandlerResponse::Handled;
  }));
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "internal error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = std::string("internal error: ") + e.what();
    } catch (...) {
    }
    send_error(res, ApiError(500, what, {}, "internal_error", "server_error"));
  });
}

Server::Server(Scheduler& scheduler, const Tokenizer& tokenizer, Metrics& metrics, ServerOptions options)
    : impl_(std::make_unique<Impl>(scheduler, tokenizer, metrics, std::move(options))) {
  Impl& s = *impl_;
  const int threads = s.options.http_threads > 0
                          ? s.options.http_threads
                          : scheduler.parallel() + scheduler.queue_limit() + 8;
  s.http.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<std::size_t>(threads)); };
  s.http.set_payload_max_length(s.options.max_body);
  // Idle keep-alive connections hold a worker; a short timeout also bounds how long
  // shutdown waits for them.
  s.http.set_keep_alive_timeout(3);
  s.http.set_read_timeout(30, 0);
  s.http.set_write_timeout(30, 0);
  s.http.set_tcp_nodelay(true);  // each SSE event is small and should leave at once
  s.install_routes();
}

Server::~Server() = default;

int Server::bind() {
  Impl& s = *impl_;
  int port = s.options.port;
  if (port == 0) {
    port = s.http.bind_to_any_port(s.options.host);
    if (port < 0) throw Error("cannot listen on " + s.options.host + " (any port)");
  } else if (!s.http.bind_to_port(s.options.host, port)) {
    throw Error("cannot listen on " + s.options.host + ":" + std::to_string(port) + " (in use, or not an address here)");
  }
  s.http.raise_backlog(1024);
  return port;
}

void Server::run() { impl_->http.listen_after_bind(); }

void Server::shutdown(std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  s.draining = true;
  s.scheduler.drain();
  if (!s.scheduler.wait_idle(grace)) s.scheduler.cancel_all();
  s.scheduler.wait_idle(std::chrono::seconds(5));
  // Let the handlers send what the scheduler has finished (the last chunks, [DONE]).
  const auto deadline = Clock::now() + std::chrono::seconds(3);
  while (s.in_flight > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  s.http.stop();
}

}  // namespace llama2::server
