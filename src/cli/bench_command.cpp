// ============================================================================
// llama2 bench: tokens per second of prompt processing (ppN) and generation (tgN) for each
// model and thread count, as a fraction of what the machine allows (its roofline).
// Markdown rows like llama.cpp's llama-bench by default, JSON with --json.
// ============================================================================
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_util.hpp"
#include "cli/commands.hpp"
#include "generation/speculative.hpp"
#include "core/thread_pool.hpp"
#include "kernels/ops.hpp"
#include "kernels/int8/int8_kernels.hpp"
#include "model/model.hpp"
#include "tools/bench.hpp"
#include "tools/machine.hpp"
#include "transformer/batch.hpp"

namespace llama2::cli {

namespace {

struct BenchOptions {
  std::vector<std::string> models;
  std::vector<std::string> shapes;
  std::vector<int> threads;
  int prompt = 128;
  int gen = 128;
  int reps = 5;
  int batch = kDefaultBatchSize;
  int ttft_prompt = 0;
  int membw_mib = 1024;
  bool json = false;
  std::string cache_dir;
  int lookup = 0;  // > 0: also a tg test with prompt-lookup speculative decoding
  std::string draft;  // non-empty: also a tg test with this draft model
  int draft_max = 8;
  std::vector<int> streams;  // batched decode: sequences per forward_batch step (1 first)
};

// Passes over the probe's buffer for each reading beside a generation repetition (1 GiB: ~25 ms
// a pass here), fewer than the start-up reading's five to keep the run short.
constexpr int kBesideRepeats = 3;

struct Machine {
  double bandwidth = 0;  // bytes/s
  double flops = 0;      // FLOP/s
  double int8_ops = 0;   // int8 multiply-adds x 2 per second (the batch GEMM's peak); 0: no GEMM
};

// A token's seconds at the machine's peaks, for a prompt of n_prompt tokens (its FLOPs per
// token) run in passes of n_batch tokens: the matrices such a pass multiplies with the int8
// GEMM at the int8 peak, every other FLOP (fp32 matrices, the row kernels, attention, the
// classifier of the last position) at the fp32 one. *int8_share: the int8 FLOPs' fraction.
double seconds_at_peak(const Model& model, int n_prompt, int n_batch, const Machine& m, double* int8_share) {
  const double total = tools::prompt_flops(model.config(), n_prompt) / n_prompt;
  double int8_flops = 0;
  if (m.int8_ops > 0)
    for (const LayerWeights& l : model.weights().layers)
      for (const Tensor* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w1, &l.w2, &l.w3})
        if (int8::batch_uses_int8_gemm(*w, n_batch)) int8_flops += 2.0 * static_cast<double>(w->size());
  *int8_share = int8_flops / total;
  return (int8_flops > 0 ? int8_flops / m.int8_ops : 0.0) + (total - int8_flops) / m.flops;
}

struct Row {
  std::string model;
  std::string path;
  std::uint64_t params = 0;
  std::uint64_t file_bytes = 0;
  int threads = 0;
  std::string test;  // "pp128", "tg128", "ttft8"
  int n_tokens = 0;
  std::vector<double> seconds;  // one per repetition
  tools::Stats rate;            // tokens/s (ttft: milliseconds)
  double roofline = -1;         // fraction of the roofline; < 0: none
  double ceiling = 0;           // the roofline: bytes/s (tg: median beside the runs) or FLOP/s (pp)
  std::vector<double> bandwidth;  // tg: read bandwidth before the first and after each repetition
  std::uint64_t weight_bytes = 0;  // tg: weight bytes read per token
  std::string roofline_kind;    // "bandwidth", "flops" (fp32 peak) or "int8" (int8 and fp32 peaks)
  std::uint64_t rss_bytes = 0;  // resident memory after the test (tg only)
  double drafts_kept = -1;      // speculative tg: fraction of the drafts kept; < 0: not speculative
  int streams = 0;              // batched decode: sequences per step; 0: not batched decode
  double vs_one_stream = -1;    // batched decode: aggregate rate over the 1-stream row's
};

std::string human(double v, const char* unit) {
  char buf[64];
  if (v >= 1e9) std::snprintf(buf, sizeof buf, "%.2f G%s", v / 1e9, unit);
  else if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2f M%s", v / 1e6, unit);
  else if (v >= 1e3) std::snprintf(buf, sizeof buf, "%.2f K%s", v / 1e3, unit);
  else std::snprintf(buf, sizeof buf, "%.0f %s", v, unit);
  return buf;
}

std::string mib(std::uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

std::string markdown_row(const Row& r) {
  char rate[48], spread[48], roof[48];
  if (r.test.rfind("ttft", 0) == 0) {
    std::snprintf(rate, sizeof rate, "%.1f ms", r.rate.median);
    std::snprintf(spread, sizeof spread, "%.1f", r.rate.stddev);
  } else {
    std::snprintf(rate, sizeof rate, "%.2f", r.rate.median);
    std::snprintf(spread, sizeof spread, "%.2f", r.rate.stddev);
  }
  if (r.roofline >= 0 && r.roofline_kind == "flops")
    std::snprintf(roof, sizeof roof, "%.1f%% of %.0f GFLOP/s", 100 * r.roofline, r.ceiling / 1e9);
  else if (r.roofline >= 0 && r.roofline_kind == "int8")
    std::snprintf(roof, sizeof roof, "%.1f%% of %.0f Gop/s int8+fp32", 100 * r.roofline, r.ceiling / 1e9);
  else if (r.roofline >= 0)
    std::snprintf(roof, sizeof roof, "%.1f%% of %.1f GB/s", 100 * r.roofline, r.ceiling / 1e9);
  else
    std::snprintf(roof, sizeof roof, "-");
  std::string test = r.test;
  if (r.drafts_kept >= 0) test += " (" + std::to_string(static_cast<int>(100 * r.drafts_kept + 0.5)) + " % kept)";
  if (r.vs_one_stream >= 0) {
    char ratio[32];
    std::snprintf(ratio, sizeof ratio, " (%.2fx 1 stream)", r.vs_one_stream);
    test += ratio;
  }
  return "| " + r.model + " | " + human(static_cast<double>(r.params), "") + " | " + mib(r.file_bytes) + " | " +
         std::to_string(r.threads) + " | " + test + " | " + rate + " | " + spread + " | " + roof + " |\n";
}

nlohmann::json to_json(const Row& r) {
  nlohmann::json j = {{"model", r.model},
                      {"path", r.path},
                      {"params", r.params},
                      {"file_bytes", r.file_bytes},
                      {"threads", r.threads},
                      {"test", r.test},
                      {"n_tokens", r.n_tokens},
                      {"repetitions", r.seconds.size()},
                      {"samples_seconds", r.seconds}};
  const nlohmann::json stats = {{"median", r.rate.median}, {"mean", r.rate.mean}, {"stddev", r.rate.stddev},
                                {"min", r.rate.min},       {"max", r.rate.max}};
  if (r.test.rfind("ttft", 0) == 0) {
    j["milliseconds"] = stats;
  } else {
    j["tokens_per_second"] = stats;
    j["roofline"] = r.roofline_kind;
    j["roofline_fraction"] = r.roofline;
    j["roofline_ceiling"] = r.ceiling;
    if (!r.bandwidth.empty()) {
      j["read_bandwidth_samples_bytes_per_s"] = r.bandwidth;
      j["weight_bytes_per_token"] = r.weight_bytes;
    }
  }
  if (r.rss_bytes > 0) j["rss_bytes"] = r.rss_bytes;
  if (r.drafts_kept >= 0) j["drafts_kept_fraction"] = r.drafts_kept;
  if (r.streams > 0) j["streams"] = r.streams;
  if (r.vs_one_stream >= 0) j["vs_one_stream"] = r.vs_one_stream;
  return j;
}

// One test repeated `reps` times; `run` returns seconds. `rate` gets tokens/s per repetition.
Row measure(const Row& base, const std::string& test, int n_tokens, int reps, const std::function<double()>& run) {
  Row r = base;
  r.test = test;
  r.n_tokens = n_tokens;
  std::vector<double> rates;
  for (int i = 0; i < reps; ++i) {
    const double s = run();
    r.seconds.push_back(s);
    rates.push_back(s > 0 ? n_tokens / s : 0);
  }
  r.rate = tools::summarize(rates);
  return r;
}

void add_options(CLI::App& app, BenchOptions& o) {
  app.add_option("-m,--model", o.models, "model file to benchmark (repeatable)");
  app.add_option("--shape", o.shapes,
                 "also benchmark a random-weight model of a published shape (repeatable; written once into "
                 "--cache-dir): 15M, 42M or 110M (llama2.c fp32), or NAME[:TYPE] with NAME a `convert "
                 "--random-shape` name (llama-3.2-1b, smollm2-135m, qwen2.5-0.5b, ...) and TYPE a GGUF "
                 "weight type (default q8_0)")
      ->check([](const std::string& s) -> std::string {
        try {
          tools::shape_display_name(s);  // throws for an unknown shape or type
          return "";
        } catch (const Error& e) {
          return e.what();
        }
      });
  app.add_option("-t,--threads", o.threads, "thread counts, comma separated (default: all cores)")
      ->delimiter(',')
      ->check(CLI::Range(1, 1024));
  app.add_option("-p,--n-prompt", o.prompt, "prompt tokens of the pp test; 0 = skip")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("-n,--n-gen", o.gen, "generated tokens of the tg test; 0 = skip")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("-r,--repetitions", o.reps, "repetitions of each test")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("-b,--batch-size", o.batch, "prompt positions per forward_batch call")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("--ttft", o.ttft_prompt,
                 "also measure time to first token (load the model with a warm page cache, feed a prompt of "
                 "this many tokens, pick one); 0 = skip")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("--membw-mib", o.membw_mib,
                 "buffer for the read-bandwidth measurements (at start-up and beside each generation "
                 "repetition), in MiB")
      ->capture_default_str()
      ->check(CLI::Range(16, 1 << 16));
  app.add_option("--lookup", o.lookup,
                 "also a tg test with prompt-lookup speculative decoding (n-gram up to N), greedy, after an "
                 "8-token prompt; its roofline fraction may pass 100 %")
      ->check(CLI::Range(1, 16));
  app.add_option("--draft", o.draft,
                 "also a tg test with speculative decoding by this draft model (same vocabulary), greedy, "
                 "after an 8-token prompt")
      ->check(CLI::ExistingFile);
  app.add_option("--draft-max", o.draft_max, "drafts per pass for --lookup and --draft")->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--streams", o.streams,
                 "batched decode: sequences generating -n tokens together, one forward_batch step each "
                 "(comma separated; 1 is added first)")
      ->delimiter(',')
      ->check(CLI::Range(1, 256));
  app.add_flag("--json", o.json, "print JSON instead of a markdown table");
  app.add_option("--cache-dir", o.cache_dir, "where --shape files are kept (default: " + tools::default_cache_dir() + ")");
}

}  // namespace

int bench_command(int argc, char** argv) {
  CLI::App app{"llama2 bench: prompt-processing and generation speed against the machine's rooflines"};
  app.name("llama2 bench");
  BenchOptions o;
  add_options(app, o);
  if (auto status = parse(app, argc, argv)) return *status;
  if (o.models.empty() && o.shapes.empty()) throw UsageError("give at least one -m MODEL or --shape");
  if (o.threads.empty()) o.threads.push_back(ThreadPool::hardware_threads());
  if (o.cache_dir.empty()) o.cache_dir = tools::default_cache_dir();
  if (!o.streams.empty() && o.gen <= 0) throw UsageError("--streams needs -n > 0");
  if (!o.streams.empty() && std::find(o.streams.begin(), o.streams.end(), 1) == o.streams.end())
    o.streams.insert(o.streams.begin(), 1);

  // (display name, path) of every model, the shapes' files written first.
  std::vector<std::pair<std::string, std::string>> models;
  for (const auto& m : o.models) models.emplace_back(std::filesystem::path(m).stem().string(), m);
  for (const auto& s : o.shapes) {
    models.emplace_back(tools::shape_display_name(s), tools::shape_checkpoint(s, o.cache_dir));
    if (!o.json) std::fprintf(stderr, "%s: %s\n", models.back().first.c_str(), models.back().second.c_str());
  }

  // Every test must fit every model's context; checked before the slow measurements start.
  const bool speculative = o.lookup > 0 || !o.draft.empty();
  std::shared_ptr<const Model> draft;
  if (!o.draft.empty()) draft = Model::load(o.draft);
  for (const auto& [name, path] : models) {
    const Config config = Model::load(path)->config();
    const int seq_len = draft ? std::min(config.seq_len, draft->config().seq_len) : config.seq_len;
    if (draft) check_draft_vocabulary(draft->config(), config);
    for (int n : {o.prompt, o.gen, o.ttft_prompt, speculative ? o.gen + 8 : 0})
      if (n > seq_len)
        throw Error(name + " has a context of " + std::to_string(seq_len) + " positions; " + std::to_string(n) +
                    " tokens do not fit");
  }

  // The machine, once per thread count. The probe's buffer is kept: generation's roofline is
  // read again beside every repetition (see ReadBandwidthProbe for why).
  const tools::ReadBandwidthProbe probe = [&] {
    ThreadPool pool(*std::max_element(o.threads.begin(), o.threads.end()));  // each thread touches its slice
    return tools::ReadBandwidthProbe(pool, static_cast<std::size_t>(o.membw_mib) << 20);
  }();
  std::map<int, Machine> machine;
  for (int t : o.threads) {
    if (machine.count(t)) continue;
    ThreadPool pool(t);
    machine[t] = {probe.measure(pool, 5), tools::measure_peak_flops(pool), tools::measure_peak_int8_ops(pool)};
  }
  const std::string cpu = tools::cpu_model_name();
  if (!o.json) {
    std::string line = "machine: " + cpu + ", SIMD " + ops::simd_target_name() + ", quantized kernels " +
                       int8::kernel_name();
    for (const auto& [t, m] : machine) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "; %d thread%s: read %.1f GB/s, fp32 %.1f GFLOP/s", t, t == 1 ? "" : "s",
                    m.bandwidth / 1e9, m.flops / 1e9);
      line += buf;
      if (m.int8_ops > 0) {  // only where the kernel set has the int8 GEMM
        std::snprintf(buf, sizeof buf, ", int8 %.1f Gop/s", m.int8_ops / 1e9);
        line += buf;
      }
    }
    emit(line + " (tg rows: against readings beside each repetition)\n\n"
                "| model | params | size | threads | test | t/s | ± | roofline |\n"
                "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: |\n");
  }

  std::vector<Row> rows;
  auto report = [&](const Row& r) {
    if (!o.json) emit(markdown_row(r));
    rows.push_back(r);
  };
  for (const auto& [name, path] : models) {
    const auto model = Model::load(path);
    const Config& c = model->config();
    Row base;
    base.model = name;
    base.path = path;
    base.params = tools::parameter_count(*model);
    base.file_bytes = model->file_size();
    const auto prompt = tools::bench_tokens(o.prompt, c.vocab_size);
    for (int t : o.threads) {
      ThreadPool pool(t);
      base.threads = t;
      const Machine& m = machine[t];
      // One State and scratch for every repetition (see tools::time_prompt).
      State state(c, std::max({1, o.prompt, o.gen}));
      BatchScratch scratch(c, std::clamp(o.prompt, 1, o.batch));
      // Warm-up: the first pass faults the mapping's and the buffers' pages in; it is not what
      // we measure.
      tools::time_generation(*model, 1, state, pool);
      if (o.prompt > 0) {
        tools::time_prompt(*model, prompt, state, scratch, pool);
        Row r = measure(base, "pp" + std::to_string(o.prompt), o.prompt, o.reps,
                        [&] { return tools::time_prompt(*model, prompt, state, scratch, pool); });
        // The ceiling: FLOPs per token over the seconds per token at the peaks (each matrix at
        // the peak of the arithmetic that multiplies it).
        double int8_share = 0;
        const double seconds = seconds_at_peak(*model, o.prompt, std::min(o.prompt, o.batch), m, &int8_share);
        r.roofline_kind = int8_share > 0 ? "int8" : "flops";
        r.roofline = r.rate.median * seconds;
        r.ceiling = tools::prompt_flops(c, o.prompt) / o.prompt / seconds;
        report(r);
      }
      if (o.gen > 0) {
        // Bandwidth read before the first repetition and after each one; a repetition's
        // fraction is against the higher of the readings on either side of it.
        std::vector<double> bandwidth{probe.measure(pool, kBesideRepeats)};
        Row r = measure(base, "tg" + std::to_string(o.gen), o.gen, o.reps, [&] {
          const double s = tools::time_generation(*model, o.gen, state, pool);
          bandwidth.push_back(probe.measure(pool, kBesideRepeats));
          return s;
        });
        r.weight_bytes = model->weight_bytes_per_token();
        const double bytes = static_cast<double>(r.weight_bytes);
        std::vector<double> fractions, ceilings;
        for (std::size_t i = 0; i < r.seconds.size(); ++i) {
          ceilings.push_back(std::max(bandwidth[i], bandwidth[i + 1]));
          fractions.push_back(bytes * o.gen / r.seconds[i] / ceilings.back());
        }
        r.roofline_kind = "bandwidth";
        r.roofline = tools::summarize(fractions).median;
        r.ceiling = tools::summarize(ceilings).median;
        r.bandwidth = bandwidth;
        // The probe's buffer is not the model's memory.
        const std::uint64_t rss = tools::current_rss_bytes(), probe_rss = probe.resident_bytes();
        r.rss_bytes = rss > probe_rss ? rss - probe_rss : 0;
        report(r);
      }
      // Speculative decoding, greedy, with each draft source asked for. The same roofline as
      // tg: what plain decoding could reach at best; it is passed when several tokens are kept
      // per read of the weights (a draft model's own reads count against it, in the time).
      std::vector<std::pair<std::string, SpeculativeOptions>> sources;
      if (o.gen > 0 && o.lookup > 0) sources.push_back({" lookup" + std::to_string(o.lookup), {o.draft_max, o.lookup, nullptr}});
      if (o.gen > 0 && draft) sources.push_back({" draft", {o.draft_max, 0, draft.get()}});
      for (const auto& source_and_options : sources) {
        // Named references, not a structured binding: clang before 16 cannot capture one in a lambda.
        const std::string& source = source_and_options.first;
        const SpeculativeOptions& spec = source_and_options.second;
        const int n_prompt = 8;
        const auto spec_prompt = tools::bench_tokens(n_prompt, c.vocab_size);
        State spec_state(c, n_prompt + o.gen);
        int generated = 0, drafted = 0, kept = 0;
        std::vector<double> bandwidth{probe.measure(pool, kBesideRepeats)};
        Row r = measure(base, "tg" + std::to_string(o.gen) + source, o.gen, o.reps, [&] {
          SpeculativeStats stats;
          const auto t0 = std::chrono::steady_clock::now();
          const auto result = generate_speculative(*model, spec_state, {0.0f, 0.9f, 1}, spec_prompt, n_prompt + o.gen,
                                                   pool, spec, {}, &stats);
          const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          generated = static_cast<int>(result.tokens.size()) - n_prompt;
          drafted = stats.drafted;
          kept = stats.accepted;
          bandwidth.push_back(probe.measure(pool, kBesideRepeats));
          return s * o.gen / std::max(1, generated);  // seconds per o.gen tokens, if it ended early
        });
        r.weight_bytes = model->weight_bytes_per_token();
        std::vector<double> fractions, ceilings;
        for (std::size_t i = 0; i < r.seconds.size(); ++i) {
          ceilings.push_back(std::max(bandwidth[i], bandwidth[i + 1]));
          fractions.push_back(static_cast<double>(r.weight_bytes) * o.gen / r.seconds[i] / ceilings.back());
        }
        r.roofline_kind = "bandwidth";
        r.roofline = tools::summarize(fractions).median;
        r.ceiling = tools::summarize(ceilings).median;
        r.bandwidth = bandwidth;
        r.drafts_kept = drafted > 0 ? static_cast<double>(kept) / drafted : 0.0;
        report(r);
      }
      // Batched decode: S sequences one token each per forward_batch step, as the server's
      // continuous batching runs them. The ceiling of S streams is the lower of S tokens per
      // pass over the weights (bandwidth) and the peak FMA rate over a token's FLOPs.
      double one_stream = 0;
      for (const int streams : o.streams) {
        std::vector<State> states;
        for (int i = 0; i < streams; ++i) states.emplace_back(c, o.gen);
        BatchScratch decode_scratch(c, streams);
        tools::time_batched_decode(*model, 1, states, decode_scratch, pool);  // warm-up
        std::vector<double> bandwidth{probe.measure(pool, kBesideRepeats)};
        Row r = measure(base, "tg" + std::to_string(o.gen) + " x" + std::to_string(streams), o.gen * streams, o.reps,
                        [&] {
                          const double s = tools::time_batched_decode(*model, o.gen, states, decode_scratch, pool);
                          bandwidth.push_back(probe.measure(pool, kBesideRepeats));
                          return s;
                        });
        r.streams = streams;
        r.weight_bytes = model->weight_bytes_per_token();
        // Tokens per second at the peaks: the int8 GEMM's matrices (a pass of `streams` tokens)
        // at the int8 one, the rest at the fp32 one.
        double int8_share = 0;
        const double token_seconds = seconds_at_peak(*model, 1, streams, m, &int8_share);
        const double by_flops = 1.0 / token_seconds, peak = tools::prompt_flops(c, 1) * by_flops;
        std::vector<double> fractions, ceilings;
        bool compute_bound = false;
        for (std::size_t i = 0; i < r.seconds.size(); ++i) {
          const double bw = std::max(bandwidth[i], bandwidth[i + 1]);
          const double by_bandwidth = streams * bw / static_cast<double>(r.weight_bytes);
          compute_bound = by_flops < by_bandwidth;
          ceilings.push_back(compute_bound ? peak : bw);
          fractions.push_back(static_cast<double>(o.gen) * streams / r.seconds[i] / std::min(by_bandwidth, by_flops));
        }
        r.roofline_kind = compute_bound ? (int8_share > 0 ? "int8" : "flops") : "bandwidth";
        r.roofline = tools::summarize(fractions).median;
        r.ceiling = tools::summarize(ceilings).median;
        r.bandwidth = bandwidth;
        if (streams == 1) one_stream = r.rate.median;
        if (streams > 1 && one_stream > 0) r.vs_one_stream = r.rate.median / one_stream;
        report(r);
      }
      if (o.ttft_prompt > 0) {
        const auto ttft_tokens = tools::bench_tokens(o.ttft_prompt, c.vocab_size);
        Row r = base;
        r.test = "ttft" + std::to_string(o.ttft_prompt);
        r.n_tokens = o.ttft_prompt;
        std::vector<double> ms;
        for (int i = 0; i < o.reps; ++i) {
          r.seconds.push_back(tools::time_to_first_token(path, ttft_tokens, o.ttft_prompt + o.gen, pool));
          ms.push_back(r.seconds.back() * 1e3);
        }
        r.rate = tools::summarize(ms);
        report(r);
      }
    }
  }

  if (o.json) {
    nlohmann::json threads = nlohmann::json::array();
    for (const auto& [t, m] : machine)
      threads.push_back({{"threads", t}, {"read_bandwidth_bytes_per_s", m.bandwidth}, {"peak_flops", m.flops},
                         {"peak_int8_ops", m.int8_ops}});
    nlohmann::json results = nlohmann::json::array();
    for (const Row& r : rows) results.push_back(to_json(r));
    const nlohmann::json out = {
        {"machine", {{"cpu", cpu}, {"simd_target", ops::simd_target_name()},
                     {"quant_kernels", int8::kernel_name()},
                     {"per_thread_count", threads}}},
        {"results", results}};
    emit(out.dump(2) + "\n");
  }
  return 0;
}

}  // namespace llama2::cli
