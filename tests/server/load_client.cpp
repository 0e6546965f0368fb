// llama2_load: a load generator and checker for `llama2 serve` (loopback only).
//
// Runs phases of C concurrent streaming clients (--clients 1,4,8,16) that together send R
// requests each phase, and checks every stream: HTTP 200, well-formed server-sent events in
// the OpenAI chunk format, one id, exactly one finish_reason, a usage chunk, then
// "data: [DONE]" and nothing after. With --temperature 0 it first sends each prompt alone and
// requires every reply under load to be the same text: batching must not change results.
// Prints one markdown row per phase (aggregate tok/s, TTFT percentiles); exits 1 on any
// failure, mismatch, or when the time limit cuts a phase short.
#include <httplib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  std::string clients = "32";
  int requests = 0;  // per phase; 0 = per_client per client
  int per_client = 10;
  int max_tokens = 64;
  double temperature = 0;
  std::string endpoint = "completions";
  std::vector<std::string> prompts = {"Once upon a time", "The little dog", "One day, a girl named Lily",
                                      "Tom and his mom went to the park", "A big red ball",
                                      "The sun was shining and the birds"};
  double time_limit = 100;  // seconds, all phases together
  int prompt_tokens = 0;    // >0: also send one prompt of exactly this many tokens alone (TTFT)
  bool verbose = false;
};

struct Outcome {
  bool ok = false;
  std::string error;
  std::string text;
  int completion_tokens = 0;
  double ttft = 0;     // seconds to the first text
  double seconds = 0;  // the whole request
};

std::string request_body(const Options& o, const json& prompt) {
  json body = {{"max_tokens", o.max_tokens}, {"temperature", o.temperature}, {"stream", true},
               {"stream_options", {{"include_usage", true}}}};
  if (o.endpoint == "chat")
    body["messages"] = json::array({{{"role", "user"}, {"content", prompt}}});
  else
    body["prompt"] = prompt;
  return body.dump();
}

// Checks one event stream as it arrives; finish() says whether it was complete and valid.
class StreamChecker {
 public:
  explicit StreamChecker(bool chat) : chat_(chat) {}

  void feed(const char* data, std::size_t n) {
    buffer_.append(data, n);
    std::size_t end;
    while (error_.empty() && (end = buffer_.find("\n\n")) != std::string::npos) {
      event(buffer_.substr(0, end));
      buffer_.erase(0, end + 2);
    }
  }

  Outcome finish() {
    Outcome out;
    if (error_.empty() && !buffer_.empty()) error_ = "bytes after the last event: " + buffer_.substr(0, 80);
    if (error_.empty() && !done_) error_ = "the stream ended without data: [DONE]";
    if (error_.empty() && finish_reason_.empty()) error_ = "no chunk had a finish_reason";
    if (error_.empty() && !usage_) error_ = "no usage chunk";
    out.ok = error_.empty();
    out.error = error_;
    out.text = text_;
    out.completion_tokens = usage_.value_or(0);
    return out;
  }

  std::optional<Clock::time_point> first_text;

 private:
  void fail(const std::string& why) {
    if (error_.empty()) error_ = why;
  }

  void event(const std::string& ev) {
    std::istringstream lines(ev);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.empty() || line[0] == ':') continue;  // comments keep the connection alive
      if (line.rfind("data: ", 0) != 0) return fail("not a data line: " + line.substr(0, 80));
      if (done_) return fail("data after [DONE]");
      const std::string data = line.substr(6);
      if (data == "[DONE]") {
        done_ = true;
        continue;
      }
      const json j = json::parse(data, nullptr, false);
      if (j.is_discarded() || !j.is_object()) return fail("chunk is not a JSON object: " + data.substr(0, 80));
      if (j.contains("error")) return fail("error event: " + j["error"].value("message", ""));
      chunk(j);
    }
  }

  void chunk(const json& j) {
    const std::string object = j.value("object", "");
    if (object != (chat_ ? "chat.completion.chunk" : "text_completion")) return fail("bad object: " + object);
    const std::string id = j.value("id", "");
    if (id.empty() || (!id_.empty() && id != id_)) return fail("missing or changing id");
    id_ = id;
    if (!j.contains("choices") || !j["choices"].is_array()) return fail("no choices array");
    if (j["choices"].empty()) {  // the usage chunk comes after the finish
      if (finish_reason_.empty()) return fail("usage before the finish_reason");
      if (!j.contains("usage") || !j["usage"].is_object()) return fail("empty choices without usage");
      usage_ = j["usage"].value("completion_tokens", -1);
      if (*usage_ < 0) return fail("usage without completion_tokens");
      return;
    }
    if (!finish_reason_.empty()) return fail("a choice after the finish_reason");
    const json& c = j["choices"][0];
    if (c.value("index", -1) != 0) return fail("choice index is not 0");
    std::string piece;
    if (chat_) {
      if (!c.contains("delta") || !c["delta"].is_object()) return fail("chat chunk without delta");
      piece = c["delta"].value("content", "");
    } else {
      if (!c.contains("text") || !c["text"].is_string()) return fail("completion chunk without text");
      piece = c["text"].get<std::string>();
    }
    if (!piece.empty() && !first_text) first_text = Clock::now();
    text_ += piece;
    if (c.contains("finish_reason") && !c["finish_reason"].is_null()) {
      finish_reason_ = c["finish_reason"].get<std::string>();
      if (finish_reason_ != "stop" && finish_reason_ != "length") return fail("bad finish_reason " + finish_reason_);
    }
  }

  bool chat_;
  std::string buffer_, id_, text_, finish_reason_, error_;
  std::optional<int> usage_;
  bool done_ = false;
};

Outcome run_one(httplib::Client& client, const Options& o, const json& prompt) {
  const auto start = Clock::now();
  const bool chat = o.endpoint == "chat";
  StreamChecker checker(chat);
  httplib::Request req;
  req.method = "POST";
  req.path = chat ? "/v1/chat/completions" : "/v1/completions";
  req.body = request_body(o, prompt);
  req.set_header("Content-Type", "application/json");
  if (!o.api_key.empty()) req.set_header("Authorization", "Bearer " + o.api_key);
  int status = 0;
  req.response_handler = [&](const httplib::Response& r) {
    status = r.status;
    return true;
  };
  std::string error_body;
  req.content_receiver = [&](const char* data, std::size_t n, std::uint64_t, std::uint64_t) {
    if (status == 200)
      checker.feed(data, n);
    else
      error_body.append(data, n);
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  Outcome out;
  if (!client.send(req, res, err)) {
    out.error = "transport error " + httplib::to_string(err);
  } else if (status != 200) {
    out.error = "HTTP " + std::to_string(status) + ": " + error_body.substr(0, 200);
  } else if (res.get_header_value("Content-Type").rfind("text/event-stream", 0) != 0) {
    out.error = "content type " + res.get_header_value("Content-Type");
  } else {
    out = checker.finish();
  }
  const auto end = Clock::now();
  out.seconds = std::chrono::duration<double>(end - start).count();
  out.ttft = std::chrono::duration<double>(checker.first_text.value_or(end) - start).count();
  return out;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t i = std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

httplib::Client make_client(const Options& o) {
  httplib::Client c(o.host, o.port);
  c.set_read_timeout(60, 0);
  c.set_connection_timeout(10, 0);
  c.set_keep_alive(true);
  // httplib writes headers and body separately: with Nagle's algorithm the body would wait
  // for the server's delayed ACK (~40 ms), which would show up as time to first token.
  c.set_tcp_nodelay(true);
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"llama2_load: concurrent streaming load against llama2 serve, with checks"};
  Options o;
  app.add_option("--host", o.host)->capture_default_str();
  app.add_option("--port", o.port)->required();
  app.add_option("--api-key", o.api_key);
  app.add_option("--clients", o.clients, "concurrent streams per phase, comma-separated")->capture_default_str();
  app.add_option("--requests", o.requests, "requests per phase (default: --per-client per client)");
  app.add_option("--per-client", o.per_client, "requests per client in each phase")->capture_default_str();
  app.add_option("--max-tokens", o.max_tokens)->capture_default_str();
  app.add_option("--temperature", o.temperature, "0 also checks replies against lone requests")->capture_default_str();
  app.add_option("--endpoint", o.endpoint)->check(CLI::IsMember({"completions", "chat"}))->capture_default_str();
  app.add_option("--prompt", o.prompts, "prompts, used in turn (default: six short story openings)");
  app.add_option("--time-limit", o.time_limit, "seconds for everything; exceeding it is a failure")
      ->capture_default_str();
  app.add_option("--ttft-prompt-tokens", o.prompt_tokens,
                 "also time a lone prompt of exactly this many token ids (first-token latency)");
  app.add_flag("-v,--verbose", o.verbose);
  CLI11_PARSE(app, argc, argv);
  if (o.host != "127.0.0.1" && o.host != "localhost" && o.host != "::1") {
    std::fprintf(stderr, "llama2_load only talks to loopback addresses\n");
    return 2;
  }
  std::vector<int> phases;
  for (std::stringstream ss(o.clients); ss.good();) {
    std::string item;
    std::getline(ss, item, ',');
    if (!item.empty()) phases.push_back(std::stoi(item));
  }
  const auto deadline = Clock::now() + std::chrono::duration<double>(o.time_limit);
  int failures = 0;

  // Lone requests first: the reference text of each prompt, and the unloaded TTFT.
  std::vector<std::string> reference(o.prompts.size());
  {
    auto client = make_client(o);
    for (std::size_t i = 0; i < o.prompts.size(); ++i) {
      const Outcome r = run_one(client, o, o.prompts[i]);
      if (!r.ok) {
        std::fprintf(stderr, "lone request %zu failed: %s\n", i, r.error.c_str());
        return 1;
      }
      reference[i] = r.text;
    }
    if (o.prompt_tokens > 0) {
      // Ids 100.. are ordinary pieces in Llama vocabularies (no BOS/EOS among them); best of 3.
      json ids = json::array({1});
      for (int i = 1; i < o.prompt_tokens; ++i) ids.push_back(100 + (i * 37) % 400);
      Options lone = o;
      lone.max_tokens = 1;
      double best = 1e9;
      for (int k = 0; k < 3; ++k) {
        const Outcome r = run_one(client, lone, ids);
        if (!r.ok) {
          std::fprintf(stderr, "TTFT request failed: %s\n", r.error.c_str());
          return 1;
        }
        best = std::min(best, r.seconds);
      }
      std::printf("lone prompt of %d tokens: time to first token %.1f ms (best of 3)\n\n", o.prompt_tokens,
                  best * 1e3);
    }
  }

  std::printf("| streams | requests | failed | mismatched | tokens | seconds | tok/s | TTFT p50 ms | TTFT p99 ms |\n");
  std::printf("|--------:|---------:|-------:|-----------:|-------:|--------:|------:|------------:|------------:|\n");
  for (int clients : phases) {
    const int total = o.requests > 0 ? o.requests : o.per_client * clients;
    std::atomic<int> next{0}, failed{0}, mismatched{0}, tokens{0};
    std::mutex mutex;
    std::vector<double> ttfts;
    const auto start = Clock::now();
    std::vector<std::thread> threads;
    for (int t = 0; t < clients; ++t) {
      threads.emplace_back([&] {
        auto client = make_client(o);
        for (int i; (i = next.fetch_add(1)) < total && Clock::now() < deadline;) {
          const std::size_t p = static_cast<std::size_t>(i) % o.prompts.size();
          const Outcome r = run_one(client, o, o.prompts[p]);
          std::lock_guard lock(mutex);
          if (!r.ok) {
            ++failed;
            std::fprintf(stderr, "request %d failed: %s\n", i, r.error.c_str());
            continue;
          }
          tokens += r.completion_tokens;
          ttfts.push_back(r.ttft);
          if (o.temperature == 0 && r.text != reference[p]) {
            ++mismatched;
            std::fprintf(stderr, "request %d: reply differs from the lone request's\n  lone:  %s\n  load:  %s\n", i,
                         reference[p].c_str(), r.text.c_str());
          } else if (o.verbose) {
            std::fprintf(stderr, "request %d ok (%d tokens)\n", i, r.completion_tokens);
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const int done = static_cast<int>(ttfts.size()) + failed;
    std::printf("| %d | %d | %d | %d | %d | %.2f | %.1f | %.1f | %.1f |\n", clients, done, failed.load(),
                mismatched.load(), tokens.load(), seconds, tokens / seconds, percentile(ttfts, 0.5) * 1e3,
                percentile(ttfts, 0.99) * 1e3);
    std::fflush(stdout);
    failures += failed + mismatched;
    if (done < total) {
      std::fprintf(stderr, "time limit reached after %d of %d requests\n", done, total);
      return 1;
    }
  }
  return failures == 0 ? 0 : 1;
}
