// node openai_client_test.mjs BASE_URL API_KEY: the official openai client must work against
// llama2 serve unchanged. The package comes from $NODE_DIR (installed by server_npm_setup).
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const require = createRequire(`${process.env.NODE_DIR}/node_modules/`);
const openai = require("openai");
const OpenAI = openai.OpenAI ?? openai.default;
const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 30_000 });

async function check(name, fn) {
  await fn();
  console.log(`ok - ${name}`);
}

const models = await client.models.list();
const model = models.data[0].id;
await check("models.list", () => assert.equal(model, "stories260K"));

const prompt = "Once upon a time";
let plain;
await check("completions.create", async () => {
  plain = await client.completions.create({ model, prompt, max_tokens: 20, temperature: 0, seed: 7 });
  assert.equal(plain.object, "text_completion");
  assert.equal(plain.choices.length, 1);
  assert.equal(plain.choices[0].finish_reason, "length");
  assert.ok(plain.choices[0].text.length > 0);
  assert.equal(plain.usage.completion_tokens, 20);
  assert.equal(plain.usage.total_tokens, plain.usage.prompt_tokens + 20);
});

await check("completions.create stream", async () => {
  const stream = await client.completions.create({ model, prompt, max_tokens: 20, temperature: 0, stream: true });
  let text = "";
  let finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? "";
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, plain.choices[0].text);
  assert.equal(finish, "length");
});

const messages = [
  { role: "system", content: "You tell short stories." },
  { role: "user", content: "Tell me about a cat." },
];
let chat;
await check("chat.completions.create", async () => {
  chat = await client.chat.completions.create({ model, messages, max_tokens: 16, temperature: 0 });
  assert.equal(chat.object, "chat.completion");
  assert.equal(chat.choices[0].message.role, "assistant");
  assert.ok(["stop", "length"].includes(chat.choices[0].finish_reason));
  assert.ok(chat.usage.prompt_tokens > 0);
});

await check("chat.completions.create stream with usage", async () => {
  const stream = await client.chat.completions.create({
    model, messages, max_tokens: 16, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = "";
  let usage = null;
  let role = null;
  for await (const chunk of stream) {
    role = chunk.choices[0]?.delta?.role ?? role;
    text += chunk.choices[0]?.delta?.content ?? "";
    usage = chunk.usage ?? usage;
  }
  assert.equal(role, "assistant");
  assert.equal(text, chat.choices[0].message.content);
  assert.equal(usage.completion_tokens, chat.usage.completion_tokens);
});

await check("sampling with a seed repeats", async () => {
  const a = await client.completions.create({ model, prompt, max_tokens: 24, temperature: 0.9, top_p: 0.9, seed: 42 });
  const b = await client.completions.create({ model, prompt, max_tokens: 24, temperature: 0.9, top_p: 0.9, seed: 42 });
  assert.equal(a.choices[0].text, b.choices[0].text);
});

await check("n choices and logprobs (completions)", async () => {
  const r = await client.completions.create({ model, prompt, max_tokens: 20, temperature: 0, n: 2, logprobs: 2 });
  assert.deepEqual(r.choices.map((c) => c.index), [0, 1]);
  for (const c of r.choices) {
    assert.equal(c.text, plain.choices[0].text);  // greedy choices are the lone greedy reply
    assert.equal(c.logprobs.tokens.join(""), c.text);
    assert.equal(c.logprobs.token_logprobs.length, 20);
    assert.ok(c.logprobs.top_logprobs.every((t) => Object.keys(t).length === 2));
  }
  assert.equal(r.usage.completion_tokens, 40);
  assert.equal(r.usage.prompt_tokens, plain.usage.prompt_tokens);  // the prompt ran once
});

await check("n choices and logprobs (chat, streamed)", async () => {
  const messages = [{ role: "user", content: "Tell me a story." }];
  const whole = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0.8, seed: 3, n: 2, logprobs: true, top_logprobs: 2 });
  const stream = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0.8, seed: 3, n: 2, logprobs: true, top_logprobs: 2, stream: true });
  const text = ["", ""], lp = [[], []];
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      text[c.index] += c.delta.content ?? "";
      lp[c.index].push(...(c.logprobs?.content ?? []));
    }
  }
  for (const i of [0, 1]) {
    const c = whole.choices[i];
    assert.equal(c.index, i);
    assert.equal(text[i], c.message.content);  // the same seeds give the same choices
    assert.deepEqual(lp[i].map((t) => t.token), c.logprobs.content.map((t) => t.token));
    assert.ok(c.logprobs.content.every((t) => t.logprob <= 0 && t.top_logprobs.length === 2));
  }
});

await check("400 becomes BadRequestError", async () => {
  await assert.rejects(client.completions.create({ model, prompt, n: 5 }), (e) => {  // --parallel 4
    assert.equal(e.status, 400);
    assert.ok(e instanceof OpenAI.BadRequestError);
    assert.equal(e.param, "n");
    return true;
  });
});

await check("401 becomes AuthenticationError", async () => {
  const wrong = new OpenAI({ baseURL, apiKey: "sk-wrong", maxRetries: 0 });
  await assert.rejects(wrong.models.list(), (e) => {
    assert.equal(e.status, 401);
    assert.ok(e instanceof OpenAI.AuthenticationError);
    return true;
  });
});
