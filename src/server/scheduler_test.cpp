#include "server/scheduler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include "server/openai.hpp"
#include "test_support.hpp"

namespace llama2::server {
namespace {

using namespace std::chrono_literals;

// stories260K with the first 512 pieces of the Llama tokenizer (it has no tokenizer of its
// own in ../shared): meaningless text, but real bytes in and out.
struct Fixture {
  std::shared_ptr<const Model> model = Model::load(testing::data_path("models/stories260K.bin"));
  Tokenizer tokenizer = truncated_tokenizer(512);

  static Tokenizer truncated_tokenizer(int n) {
    std::ifstream f(testing::data_path("models/tokenizer.bin"), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    std::size_t off = 4;
    for (int i = 0; i < n; ++i) {
      std::int32_t len;
      std::memcpy(&len, bytes.data() + off + 4, 4);
      off += 8 + static_cast<std::size_t>(len);
    }
    return Tokenizer::parse(std::as_bytes(std::span(bytes.data(), off)), n, "tokenizer512");
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

struct Reply {
  std::string text;
  FinishReason reason = FinishReason::Failed;
  GenerationStats stats;
};

Reply collect(RequestChannel& channel) {
  Reply r;
  for (;;) {
    auto u = channel.wait(100ms);
    r.text += u.text;
    if (u.finished) {
      r.reason = *u.finished;
      r.stats = channel.stats();
      return r;
    }
  }
}

GenerationParams params(const std::string& prompt, int max_tokens, float temperature = 0, std::uint64_t seed = 0) {
  GenerationParams p;
  p.prompt = fixture().tokenizer.encode(prompt, true, false);
  p.max_tokens = max_tokens;
  p.sampling = {temperature, 0.9f, seed};
  return p;
}

SchedulerOptions options(int parallel, int queue = 64) {
  SchedulerOptions o;
  o.parallel = parallel;
  o.queue = queue;
  o.context = 256;
  o.threads = 2;
  return o;
}

TEST(Scheduler, GreedyRepliesDoNotDependOnTheBatch) {
  const std::vector<std::string> prompts = {"Once upon a time", "The dog", "Lily went to the park", "A", "Tom and Sam"};
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(3));
  // Alone: one sequence per pass.
  std::vector<std::string> lone;
  for (const auto& p : prompts) lone.push_back(collect(*scheduler.submit(params(p, 60))).text);
  // Together: 10 requests on 3 slots, so they join and leave at different positions, and
  // prompts are fed in the same passes as other sequences' tokens.
  std::vector<std::shared_ptr<RequestChannel>> channels;
  for (int i = 0; i < 10; ++i) channels.push_back(scheduler.submit(params(prompts[i % prompts.size()], 60)));
  for (int i = 0; i < 10; ++i) {
    const Reply r = collect(*channels[i]);
    EXPECT_EQ(r.text, lone[i % prompts.size()]) << "request " << i;
    EXPECT_EQ(r.reason, r.stats.completion_tokens == 60 ? FinishReason::Length : FinishReason::Stop);
  }
}

TEST(Scheduler, SeededSamplingRepeatsUnderLoad) {
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(4));
  const std::string alone = collect(*scheduler.submit(params("Once upon a time", 40, 1.0f, 1234))).text;
  std::vector<std::shared_ptr<RequestChannel>> channels;
  for (int i = 0; i < 6; ++i) channels.push_back(scheduler.submit(params("Once upon a time", 40, 1.0f, 1234 + i % 2)));
  for (int i = 0; i < 6; i += 2) EXPECT_EQ(collect(*channels[i]).text, alone);
}

// A random-weight model writes nothing sensible, but under a schema every reply is valid JSON
// of that schema, greedy or sampled.
TEST(Scheduler, ConstrainedRepliesFollowTheSchema) {
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(2));
  auto grammar = std::make_shared<const json_schema::Grammar>(json_schema::compile_schema(nlohmann::ordered_json::parse(
      R"({"type":"object","properties":{"name":{"type":"string","enum":["Lily","Tom"]},"age":{"type":"integer"},)"
      R"("happy":{"type":"boolean"}},"required":["name","age","happy"]})")));
  for (float temperature : {0.0f, 1.0f}) {
    GenerationParams p = params("Once upon a time", 200, temperature, 77);
    p.grammar = grammar;
    const Reply r = collect(*scheduler.submit(p));
    ASSERT_EQ(r.reason, FinishReason::Stop) << r.text;
    const nlohmann::json reply = nlohmann::json::parse(r.text);
    EXPECT_TRUE(reply["name"] == "Lily" || reply["name"] == "Tom") << r.text;
    EXPECT_TRUE(reply["age"].is_number_integer()) << r.text;
    EXPECT_TRUE(reply["happy"].is_boolean()) << r.text;
  }
  // Without the grammar the same model writes a story, not JSON.
  EXPECT_FALSE(nlohmann::json::accept(collect(*scheduler.submit(params("Once upon a time", 40))).text));
}

TEST(Scheduler, MaxTokensEndsWithLength) {
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(2));
  const Reply r = collect(*scheduler.submit(params("Once upon a time", 7)));
  EXPECT_EQ(r.reason, FinishReason::Length);
  EXPECT_EQ(r.stats.completion_tokens, 7);
  EXPECT_EQ(r.stats.prompt_tokens, static_cast<int>(params("Once upon a time", 1).prompt.size()));
  EXPECT_GT(r.stats.ttft_seconds, 0.0);
}

TEST(Scheduler, StopSequenceEndsTheReply) {
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(2));
  const std::string full = collect(*scheduler.submit(params("Once upon a time", 30))).text;
  ASSERT_GT(full.size(), 12u);
  GenerationParams p = params("Once upon a time", 30);
  p.stop = {full.substr(10, 2)};
  const Reply r = collect(*scheduler.submit(p));
  EXPECT_EQ(r.reason, FinishReason::Stop);
  EXPECT_EQ(r.text, full.substr(0, full.find(p.stop[0])));
}

TEST(Scheduler, CancelFreesTheSlot) {
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(1));
  auto channel = scheduler.submit(params("Once upon a time", 240));
  while (channel->wait(100ms).text.empty()) {
  }
  channel->cancel();
  const Reply r = collect(*channel);
  EXPECT_EQ(r.reason, FinishReason::Cancelled);
  EXPECT_LT(r.stats.completion_tokens, 240);
  EXPECT_TRUE(scheduler.wait_idle(5s));
  // The slot serves the next request.
  EXPECT_EQ(collect(*scheduler.submit(params("The dog", 5))).reason, FinishReason::Length);
}

TEST(Scheduler, FullQueueIsRefusedWith503) {
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(1, /*queue=*/1));
  auto running = scheduler.submit(params("Once upon a time", 240));
  auto waiting = scheduler.submit(params("The dog", 5));
  try {
    scheduler.submit(params("A", 5));
    FAIL() << "a third request fit in one slot and a queue of one";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 503);
    EXPECT_EQ(e.code, "queue_full");
  }
  EXPECT_EQ(collect(*waiting).reason, FinishReason::Length);  // the queued one still runs
  collect(*running);
}

TEST(Scheduler, ContextIsEnforced) {
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(1));
  EXPECT_EQ(scheduler.context(), 256);
  GenerationParams p = params("Once upon a time", 1);
  p.max_tokens = 257 - static_cast<int>(p.prompt.size());
  EXPECT_THROW(scheduler.submit(p), ApiError);
  p.max_tokens -= 1;  // exactly fills the context
  EXPECT_NE(collect(*scheduler.submit(p)).reason, FinishReason::Failed);
  EXPECT_THROW(scheduler.submit(GenerationParams{}), ApiError);  // no prompt
}

TEST(Scheduler, DrainRefusesNewAndCancelsQueued) {
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(1));
  auto running = scheduler.submit(params("Once upon a time", 200));
  auto queued = scheduler.submit(params("The dog", 5));
  scheduler.drain();
  try {
    scheduler.submit(params("A", 5));
    FAIL() << "accepted while draining";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 503);
  }
  const Reply q = collect(*queued);
  // The queued request was either cancelled by the drain or (if the first ended first) ran.
  EXPECT_TRUE(q.reason == FinishReason::Cancelled || q.reason == FinishReason::Length);
  EXPECT_NE(collect(*running).reason, FinishReason::Failed);
  EXPECT_TRUE(scheduler.wait_idle(5s));
}

TEST(Scheduler, DestructionCancelsWhatIsRunning) {
  std::shared_ptr<RequestChannel> channel;
  {
    Scheduler scheduler(fixture().model, fixture().tokenizer, options(1));
    channel = scheduler.submit(params("Once upon a time", 240));
  }
  const Reply r = collect(*channel);
  EXPECT_TRUE(r.reason == FinishReason::Cancelled || r.reason == FinishReason::Length);
}

// ---- prompt cache ----

// A chat the way clients send it: every turn repeats the whole history, reply included.
std::vector<Reply> run_conversation(Scheduler& scheduler, int turns) {
  const Tokenizer& tok = fixture().tokenizer;
  std::vector<TokenId> history = tok.encode("Once upon a time", true, false);
  const std::vector<std::string> user = {" Then the dog", " The end. Next day", " Lily said"};
  std::vector<Reply> replies;
  for (int t = 0; t < turns; ++t) {
    GenerationParams p;
    p.prompt = history;
    p.max_tokens = 20;
    p.sampling = {0, 0.9f, 0};
    replies.push_back(collect(*scheduler.submit(p)));
    for (const std::string& text : {replies.back().text, user[t % user.size()]}) {
      const auto ids = tok.encode(text, false, false);
      history.insert(history.end(), ids.begin(), ids.end());
    }
  }
  return replies;
}

TEST(Scheduler, PromptCacheGivesTheSameRepliesAndFeedsOnlyNewTokens) {
  SchedulerOptions off = options(2);
  off.prompt_cache = false;
  Scheduler uncached(fixture().model, fixture().tokenizer, off);
  // One slot, so the repeated chat finds its first turn in it (with more, the first turn would
  // go to an unused slot rather than evict a longer chat: see the next tests).
  Scheduler cached(fixture().model, fixture().tokenizer, options(1));
  const auto expected = run_conversation(uncached, 4);
  const auto first = run_conversation(cached, 4);
  const auto again = run_conversation(cached, 4);  // the same chat once more: all of it is cached
  for (std::size_t t = 0; t < expected.size(); ++t) {
    SCOPED_TRACE("turn " + std::to_string(t));
    EXPECT_EQ(first[t].text, expected[t].text);
    EXPECT_EQ(again[t].text, expected[t].text);
    EXPECT_EQ(expected[t].stats.cached_tokens, 0);
    const int prompt = expected[t].stats.prompt_tokens;
    // A later turn reuses at least the previous turn's prompt (its slot holds that and the
    // reply); the repeated first turn all but its last token (every slot's cache starts with it).
    if (t > 0) {
      EXPECT_GE(first[t].stats.cached_tokens, expected[t - 1].stats.prompt_tokens);
      EXPECT_GE(again[t].stats.cached_tokens, expected[t - 1].stats.prompt_tokens);
    }
    EXPECT_LT(first[t].stats.cached_tokens, prompt);
  }
  EXPECT_EQ(first[0].stats.cached_tokens, 0);
  EXPECT_EQ(again[0].stats.cached_tokens, expected[0].stats.prompt_tokens - 1);
}

TEST(Scheduler, PromptCacheReusesExactlyTheMatchingPrefix) {
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(1));
  GenerationParams a = params("Once upon a time there was a little dog", 3);
  const Reply ra = collect(*scheduler.submit(a));
  EXPECT_EQ(ra.stats.cached_tokens, 0);
  // Same first 4 tokens, then another token: only those 4 rows are reused.
  GenerationParams b = a;
  b.prompt.resize(6);
  b.prompt[4] = b.prompt[4] == 300 ? 301 : 300;
  const Reply rb = collect(*scheduler.submit(b));
  EXPECT_EQ(rb.stats.cached_tokens, 4);
  // b's reply is what an empty cache gives for b.
  SchedulerOptions off = options(1);
  off.prompt_cache = false;
  Scheduler fresh(fixture().model, fixture().tokenizer, off);
  EXPECT_EQ(rb.text, collect(*fresh.submit(b)).text);
  // A prompt that diverges at its first token reuses nothing.
  GenerationParams c = b;
  c.prompt[0] = 7;
  EXPECT_EQ(collect(*scheduler.submit(c)).stats.cached_tokens, 0);
}

// Two free slots, one holding the prompt's prefix: the request goes there, not to the slot
// that is least recently used; concurrent requests with one prefix each get their own slot.
TEST(Scheduler, PromptCachePicksTheSlotWithTheLongestPrefix) {
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(2));
  GenerationParams dog = params("The dog ran to the park", 4);
  GenerationParams cat = params("A cat sat on the mat", 4);
  collect(*scheduler.submit(dog));
  collect(*scheduler.submit(cat));
  const int n = static_cast<int>(dog.prompt.size());
  EXPECT_EQ(collect(*scheduler.submit(dog)).stats.cached_tokens, n - 1);
  EXPECT_EQ(collect(*scheduler.submit(cat)).stats.cached_tokens, static_cast<int>(cat.prompt.size()) - 1);
  // Both at once with the same prompt: one slot reuses, the other cannot share it (x runs
  // long enough that y arrives while it holds its slot).
  GenerationParams long_dog = dog;
  long_dog.max_tokens = 150;
  dog.max_tokens = 150;
  auto x = scheduler.submit(long_dog);
  auto y = scheduler.submit(dog);
  const Reply rx = collect(*x), ry = collect(*y);
  EXPECT_EQ(rx.text, ry.text);
  EXPECT_EQ(rx.stats.cached_tokens, n - 1);
  EXPECT_LT(ry.stats.cached_tokens, n - 1);
}

// ---- n choices, logprobs, logit bias ----

// What one choice sent: its text and the logprobs of each of its tokens.
struct LogprobReply {
  Reply reply;
  std::vector<TokenLogprob> logprobs;
};

LogprobReply collect_logprobs(RequestChannel& channel) {
  LogprobReply r;
  for (;;) {
    auto u = channel.wait(100ms);
    r.reply.text += u.text;
    r.logprobs.insert(r.logprobs.end(), u.logprobs.begin(), u.logprobs.end());
    if (u.finished) {
      r.reply.reason = *u.finished;
      r.reply.stats = channel.stats();
      return r;
    }
  }
}

// The prompt is fed once and copied; each choice then goes as a lone request would: greedy
// choices equal the lone greedy reply, seeded choice i the lone reply with seed + i.
TEST(Scheduler, NChoicesEqualLoneRequestsWithSeedPlusI) {
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(4));
  const std::string greedy = collect(*scheduler.submit(params("Once upon a time", 40))).text;
  for (const auto& channel : scheduler.submit(params("Once upon a time", 40), 3))
    EXPECT_EQ(collect(*channel).text, greedy);
  std::vector<std::string> lone;
  for (int i = 0; i < 3; ++i) lone.push_back(collect(*scheduler.submit(params("Once upon a time", 40, 1.0f, 500 + i))).text);
  EXPECT_NE(lone[0], lone[1]);
  // Twice: the second time the leader's prompt comes from the prompt cache.
  for (int round = 0; round < 2; ++round) {
    const auto channels = scheduler.submit(params("Once upon a time", 40, 1.0f, 500), 3);
    ASSERT_EQ(channels.size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(collect(*channels[i]).text, lone[i]) << "round " << round << " choice " << i;
  }
  // More choices than slots can never be admitted together.
  try {
    scheduler.submit(params("Once upon a time", 4), 5);
    ADD_FAILURE() << "n = 5 on 4 slots was accepted";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.status, 400);
    EXPECT_EQ(e.param, "n");
  }
}

// Choices admitted while other requests run, and one cancelled at once: the rest finish, the
// slots come back.
TEST(Scheduler, NChoicesUnderLoadAndCancel) {
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(3));
  const std::string greedy = collect(*scheduler.submit(params("The dog", 30))).text;
  auto busy = scheduler.submit(params("Once upon a time", 200));
  auto choices = scheduler.submit(params("The dog", 30), 3);  // waits for 3 free slots
  auto cancelled = scheduler.submit(params("The dog", 30), 2);
  cancelled[0]->cancel();
  for (const auto& c : choices) EXPECT_EQ(collect(*c).text, greedy);
  EXPECT_EQ(collect(*cancelled[0]).reason, FinishReason::Cancelled);
  const Reply other = collect(*cancelled[1]);
  EXPECT_TRUE(other.reason == FinishReason::Cancelled || other.text == greedy) << other.text;
  collect(*busy);
  EXPECT_TRUE(scheduler.wait_idle(5s));
  EXPECT_EQ(collect(*scheduler.submit(params("The dog", 30))).text, greedy);
}

// Each token comes with its logprob and the top alternatives, which are the model's own
// distribution: greedy picks the first of them, and their pieces spell the reply.
TEST(Scheduler, LogprobsDescribeEachToken) {
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(2));
  for (float temperature : {0.0f, 1.0f}) {
    GenerationParams p = params("Once upon a time", 20, temperature, 9);
    p.top_logprobs = 3;
    const LogprobReply r = collect_logprobs(*scheduler.submit(p));
    ASSERT_EQ(static_cast<int>(r.logprobs.size()), r.reply.stats.completion_tokens);
    std::string spelled;
    for (const TokenLogprob& t : r.logprobs) {
      spelled += t.token;
      ASSERT_EQ(t.top.size(), 3u);
      EXPECT_LE(t.logprob, 0.0f);
      EXPECT_GE(t.top[0].second, t.top[1].second);
      EXPECT_GE(t.top[1].second, t.top[2].second);
      EXPECT_LE(t.logprob, t.top[0].second + 1e-6f);
      if (temperature == 0.0f) {
        EXPECT_EQ(t.token, t.top[0].first);
      }
      // The probabilities of the alternatives are a part of one distribution.
      EXPECT_LE(std::exp(t.top[0].second) + std::exp(t.top[1].second) + std::exp(t.top[2].second), 1.0f + 1e-5f);
    }
    EXPECT_EQ(spelled, r.reply.text);
  }
  // Off: no logprobs sent.
  EXPECT_TRUE(collect_logprobs(*scheduler.submit(params("Once upon a time", 5))).logprobs.empty());
}

// Speculative decoding with prompt lookup: drafts ride in the passes of the sequences, and
// every reply is the plain scheduler's, token for token, however the requests overlap, with
// grammars, logprobs, penalties, short max_tokens and the context's end. Seeded sampled
// replies too: a row is drawn exactly as plain decoding draws it (one coin per token), and a
// draft is kept only when the draw lands on it, which is the rejection rule for a one-token
// proposal (keep d with probability p(d), else draw from p without d).
TEST(Scheduler, LookupDraftsGiveThePlainReplies) {
  SchedulerOptions speculative = options(3);
  speculative.lookup_ngram = 2;
  speculative.draft_max = 4;
  Scheduler plain(fixture().model, fixture().tokenizer, options(3));
  Scheduler spec(fixture().model, fixture().tokenizer, speculative);
  auto grammar = std::make_shared<const json_schema::Grammar>(json_schema::compile_schema(
      nlohmann::ordered_json::parse(R"({"type":"object","properties":{"name":{"type":"string"}},"required":["name"]})")));
  std::vector<GenerationParams> requests;
  for (const char* prompt : {"Once upon a time", "The dog", "Lily went to the park and the park and the park", "A"})
    requests.push_back(params(prompt, 120));
  requests.push_back(params("Tom and Sam", 7));
  requests.push_back(params("Once upon a time", 60, 1.0f, 4321));  // sampled
  requests.push_back(params("Lily went to the park and the park", 100, 0.5f, 99));
  requests.back().sampling.top_k = 20;
  requests.back().sampling.min_p = 0.05f;
  requests.push_back(params("The cat", 60));
  requests.back().top_logprobs = 2;
  requests.push_back(params("The cat sat", 80));
  requests.back().sampling.repeat_penalty = 1.3f;
  requests.push_back(params("Once", 150));
  requests.back().grammar = grammar;
  requests.push_back(params("Once upon a time there was", 0));
  requests.back().max_tokens = 256 - static_cast<int>(requests.back().prompt.size());  // up to the context's end
  std::vector<Reply> lone;
  for (const auto& r : requests) lone.push_back(collect(*plain.submit(r)));
  std::vector<std::shared_ptr<RequestChannel>> channels;
  for (const auto& r : requests) channels.push_back(spec.submit(r));
  int drafted = 0, accepted = 0, sampled_drafted = 0, sampled_accepted = 0;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const Reply r = collect(*channels[i]);
    SCOPED_TRACE("request " + std::to_string(i));
    EXPECT_EQ(r.text, lone[i].text);
    EXPECT_EQ(r.reason, lone[i].reason);
    EXPECT_EQ(r.stats.completion_tokens, lone[i].stats.completion_tokens);
    EXPECT_EQ(lone[i].stats.drafted, 0);
    EXPECT_LE(r.stats.accepted, r.stats.drafted);
    const bool sampled = requests[i].sampling.temperature != 0.0f;
    (sampled ? sampled_drafted : drafted) += r.stats.drafted;
    (sampled ? sampled_accepted : accepted) += r.stats.accepted;
  }
  // stories260K's greedy stories repeat themselves: some drafts are right. Sampled replies
  // draft too, and at temperature 0.5 some of their draws land on the draft.
  EXPECT_GT(drafted, 0);
  EXPECT_GT(accepted, 0);
  EXPECT_GT(sampled_drafted, 0);
  EXPECT_GT(sampled_accepted, 0);
  std::printf("lookup drafts: greedy %d of %d kept, sampled %d of %d\n", accepted, drafted, sampled_accepted,
              sampled_drafted);
  SchedulerOptions bad = options(1);
  bad.lookup_ngram = 17;
  EXPECT_THROW(Scheduler(fixture().model, fixture().tokenizer, bad), UsageError);
}

// Drafts never take the whole pass from a prompt waiting to be fed: with a small pass budget
// and every other slot drafting, a late long prompt is still fed and answered as plain.
TEST(Scheduler, LookupDraftsLeaveRoomForPrompts) {
  SchedulerOptions speculative = options(4);
  speculative.lookup_ngram = 2;
  speculative.draft_max = 8;
  speculative.max_batch_tokens = 12;
  Scheduler plain(fixture().model, fixture().tokenizer, options(4));
  Scheduler spec(fixture().model, fixture().tokenizer, speculative);
  const GenerationParams late = params(
      "Once upon a time there was a little girl named Lily who loved to play in the park with her dog", 20);
  const Reply want = collect(*plain.submit(late));
  std::vector<std::shared_ptr<RequestChannel>> drafting;
  // Replies forced to repeat one token: the lookup always matches, so every pass is full of
  // their drafts (all kept).
  for (const char* prompt : {"The dog", "A", "Tom"}) {
    GenerationParams p = params(prompt, 200);
    p.sampling.logit_bias = {{400, 100.0f}};
    drafting.push_back(spec.submit(p));
  }
  // The late prompt arrives once the others decode (and draft): some text of each has come.
  for (auto& c : drafting) {
    std::string so_far;
    while (so_far.size() < 20) {
      const auto u = c->wait(std::chrono::milliseconds(100));
      so_far += u.text;
      if (u.finished) break;
    }
  }
  const Reply got = collect(*spec.submit(late));
  EXPECT_EQ(got.text, want.text);
  // 20 tokens after a short prompt against 200 each: the late one is done long before them
  // (were it kept waiting until they stop drafting, it would finish with or after them).
  int still_running = 0;
  for (auto& c : drafting) still_running += c->wait(std::chrono::milliseconds(0)).finished ? 0 : 1;
  EXPECT_GT(still_running, 0);
  for (auto& c : drafting) EXPECT_NE(collect(*c).reason, FinishReason::Failed);
}

// Speculative decoding with a draft model: the drafts are its greedy tokens, made for all
// decoding slots together, and every reply is still the plain one. The model drafting for
// itself proposes exactly the argmax its own passes pick, so every draft of a plain greedy
// reply is kept: that holds only if each slot's draft cache follows its tokens (prompt,
// kept drafts, corrections, a reused prompt prefix) position for position.
TEST(Scheduler, DraftModelGivesThePlainReplies) {
  SchedulerOptions speculative = options(3);
  speculative.draft = fixture().model;
  speculative.draft_max = 5;
  Scheduler plain(fixture().model, fixture().tokenizer, options(3));
  Scheduler spec(fixture().model, fixture().tokenizer, speculative);
  std::vector<GenerationParams> requests;
  for (const char* prompt : {"Once upon a time", "The dog", "Once upon a time there", "A"})
    requests.push_back(params(prompt, 100));
  requests.push_back(params("Tom and Sam", 3));
  requests.push_back(params("Once upon a time", 60, 1.0f, 4321));  // sampled: drafts rejected too
  requests.push_back(params("The cat", 60, 0.7f, 11));
  requests.back().sampling.top_k = 40;
  requests.push_back(params("The cat sat", 80));
  requests.back().sampling.repeat_penalty = 1.3f;
  requests.push_back(params("Once upon a time there was", 0));
  requests.back().max_tokens = 256 - static_cast<int>(requests.back().prompt.size());  // up to the context's end
  std::vector<Reply> lone;
  for (const auto& r : requests) lone.push_back(collect(*plain.submit(r)));
  // Twice: the second round's prompts reuse the first's cached prefixes.
  for (int round = 0; round < 2; ++round) {
    std::vector<std::shared_ptr<RequestChannel>> channels;
    for (const auto& r : requests) channels.push_back(spec.submit(r));
    int rejected = 0;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const Reply r = collect(*channels[i]);
      SCOPED_TRACE("round " + std::to_string(round) + " request " + std::to_string(i));
      EXPECT_EQ(r.text, lone[i].text);
      EXPECT_EQ(r.reason, lone[i].reason);
      EXPECT_EQ(r.stats.completion_tokens, lone[i].stats.completion_tokens);
      const GenerationParams& q = requests[i];
      if (q.sampling.temperature == 0.0f && !q.sampling.penalizes() && q.max_tokens > 3) {
        EXPECT_GT(r.stats.drafted, 0);
        EXPECT_EQ(r.stats.accepted, r.stats.drafted);
      }
      rejected += r.stats.drafted - r.stats.accepted;
    }
    EXPECT_GT(rejected, 0);  // the sampled and penalised replies left the draft's argmax
  }
  SchedulerOptions both = speculative;
  both.lookup_ngram = 2;
  EXPECT_THROW(Scheduler(fixture().model, fixture().tokenizer, both), UsageError);
  // A draft of another vocabulary is refused, naming both sizes.
  SchedulerOptions other_vocab = options(1);
  other_vocab.draft = Model::load(testing::write_random_checkpoint_v0("draft_vocab300.bin", 32, 64, 1, 4, 4, 300, 64));
  try {
    Scheduler(fixture().model, fixture().tokenizer, other_vocab);
    ADD_FAILURE() << "a draft of 300 tokens for a model of 512 was taken";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("300 tokens but the model 512"), std::string::npos) << e.what();
  }
  // A draft of a shorter context than the slots' still drafts, up to its own end (the request
  // running to the context's end above passes it): replies stay the plain ones.
  SchedulerOptions short_draft = options(2);
  short_draft.draft = Model::load(testing::write_random_checkpoint_v0("draft_ctx64.bin", 32, 64, 1, 4, 4, 512, 64));
  Scheduler short_spec(fixture().model, fixture().tokenizer, short_draft);
  const Reply got = collect(*short_spec.submit(requests.back()));
  EXPECT_EQ(got.text, lone.back().text);
  EXPECT_GT(got.stats.drafted, 0);
}

TEST(Scheduler, LogitBiasForcesAndBans) {
  Scheduler scheduler(fixture().model, fixture().tokenizer, options(2));
  GenerationParams p = params("Once upon a time", 6);
  p.top_logprobs = 0;
  const LogprobReply plain = collect_logprobs(*scheduler.submit(p));
  // Ban the greedy reply's first token: another comes first.
  TokenId first = -1;
  for (TokenId id = 0; id < fixture().tokenizer.vocab_size(); ++id)
    if (fixture().tokenizer.piece(id) == plain.logprobs[0].token) first = id;
  ASSERT_GE(first, 0) << plain.logprobs[0].token;
  p.sampling.logit_bias = {{first, -100.0f}};
  const LogprobReply banned = collect_logprobs(*scheduler.submit(p));
  EXPECT_NE(banned.logprobs[0].token, plain.logprobs[0].token);
  // Force a token every step; with a repeat penalty over every token it still wins (+100).
  p.sampling.logit_bias = {{400, 100.0f}};
  p.sampling.repeat_penalty = 1.5f;
  p.sampling.penalty_last_n = -1;
  const LogprobReply forced = collect_logprobs(*scheduler.submit(p));
  for (const TokenLogprob& t : forced.logprobs) EXPECT_EQ(t.token, std::string(fixture().tokenizer.piece(400)));
}

}  // namespace
}  // namespace llama2::server
