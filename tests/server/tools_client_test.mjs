// node tools_client_test.mjs BASE_URL: the openai client's tool-call flow against llama2 serve.
// The test model has random weights, so only what the server enforces is predictable: with
// tool_choice "required" (or a named tool) the reply is a call of a declared tool whose
// arguments validate against its parameters. (Enums and integers, not free strings: a random
// model seldom closes a string within max_tokens.)
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const require = createRequire(`${process.env.NODE_DIR}/node_modules/`);
const openai = require("openai");
const OpenAI = openai.OpenAI ?? openai.default;
const [baseURL] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "none", maxRetries: 0, timeout: 60_000 });

async function check(name, fn) {
  await fn();
  console.log(`ok - ${name}`);
}

const tools = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "The weather in a city",
      parameters: {
        type: "object",
        properties: { city: { enum: ["Oslo", "Paris", "Lima"] }, unit: { enum: ["c", "f"] } },
        required: ["city"],
        additionalProperties: false,
      },
    },
  },
  {
    type: "function",
    function: {
      name: "add",
      parameters: { type: "object", properties: { a: { type: "integer" }, b: { type: "integer" } }, required: ["a", "b"] },
    },
  },
];
const messages = [{ role: "user", content: "What is the weather in Oslo?" }];

function checkArguments(call) {
  assert.equal(call.type, "function");
  assert.ok(call.id.startsWith("call_"), call.id);
  const args = JSON.parse(call.function.arguments);
  if (call.function.name === "get_weather") {
    assert.ok(["Oslo", "Paris", "Lima"].includes(args.city), call.function.arguments);
    for (const k of Object.keys(args)) assert.ok(k === "city" || k === "unit", k);
    if ("unit" in args) assert.ok(args.unit === "c" || args.unit === "f");
  } else {
    assert.equal(call.function.name, "add");
    assert.ok(Number.isInteger(args.a) && Number.isInteger(args.b), call.function.arguments);
  }
  return args;
}

let first;
await check("required tool call", async () => {
  for (const seed of [1, 2, 3]) {
    const r = await client.chat.completions.create({
      model: "m", messages, tools, tool_choice: "required", max_tokens: 150, temperature: 1, seed,
    });
    const choice = r.choices[0];
    assert.equal(choice.finish_reason, "tool_calls", JSON.stringify(r));
    assert.equal(choice.message.tool_calls.length, 1);
    checkArguments(choice.message.tool_calls[0]);
    first ??= choice.message;
  }
});

await check("named tool call", async () => {
  const r = await client.chat.completions.create({
    model: "m", messages, tools, tool_choice: { type: "function", function: { name: "add" } }, max_tokens: 150, temperature: 0,
  });
  assert.equal(r.choices[0].finish_reason, "tool_calls");
  assert.equal(r.choices[0].message.tool_calls[0].function.name, "add");
  checkArguments(r.choices[0].message.tool_calls[0]);
});

await check("streamed tool call", async () => {
  const stream = await client.chat.completions.create({
    model: "m", messages, tools, tool_choice: "required", max_tokens: 150, temperature: 0, stream: true,
  });
  const calls = [];
  let finish = null;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (c.finish_reason) finish = c.finish_reason;
    for (const d of c.delta?.tool_calls ?? []) {
      calls[d.index] ??= { id: "", type: "function", function: { name: "", arguments: "" } };
      if (d.id) calls[d.index].id = d.id;
      if (d.function?.name) calls[d.index].function.name += d.function.name;
      if (d.function?.arguments) calls[d.index].function.arguments += d.function.arguments;
    }
  }
  assert.equal(finish, "tool_calls");
  assert.equal(calls.length, 1);
  checkArguments(calls[0]);
});

await check("tool result sent back, then a plain answer", async () => {
  const call = first.tool_calls[0];
  const r = await client.chat.completions.create({
    model: "m",
    messages: [...messages, first, { role: "tool", tool_call_id: call.id, content: "12 degrees and sunny" }],
    tools,
    tool_choice: "none",
    max_tokens: 12,
    temperature: 0,
  });
  assert.ok(["stop", "length"].includes(r.choices[0].finish_reason));
  assert.equal(typeof r.choices[0].message.content, "string");
  assert.equal(r.choices[0].message.tool_calls, undefined);
  assert.ok(r.usage.prompt_tokens > 40, "the history, tools and tool result are in the prompt");
});

await check("bad tools are a 400 naming the param", async () => {
  for (const [body, param] of [
    [{ tools: [{ type: "function", function: { name: "" } }] }, "tools[0].function.name"],
    [{ tools, tool_choice: { type: "function", function: { name: "nope" } } }, "tool_choice"],
    [{ tool_choice: "required" }, "tool_choice"],
    [{ tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: { s: { type: "string", pattern: "a+" } } } } }] }, "tools"],
  ]) {
    await assert.rejects(
      client.chat.completions.create({ model: "m", messages, max_tokens: 4, ...body }),
      (e) => e.status === 400 && e.param === param,
      JSON.stringify(body),
    );
  }
});
