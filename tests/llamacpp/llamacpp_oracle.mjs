// node llamacpp_oracle.mjs NODE_DIR MODEL.gguf OUT.json PROMPT...: what llama.cpp (the build
// inside the npm package @fugood/llama.node) makes of MODEL for each prompt, as JSON:
//   {"cases": [{"prompt", "ids": llama.cpp's tokens of the prompt text (tokenize(): without the
//               BOS a completion puts in front when the vocabulary asks for one),
//               "greedy": the 32 pieces it generates at temperature 0,
//               "sampled": 32 steps at temperature 1 with no truncation: [{"piece", "top": [[piece, prob] x5]}]}]}
// The probabilities are taken from the sampled run because at temperature 0 llama.cpp reports
// the greedy sampler's (1 for the chosen token); with temperature 1 and top-k/top-p/min-p off,
// they are the softmax of the logits. The other side follows the same sampled pieces.
import { createRequire } from "node:module";
import fs from "node:fs";

const [nodeDir, modelPath, out, ...prompts] = process.argv.slice(2);
const require = createRequire(`${nodeDir}/node_modules/`);
const { loadModel } = await import(require.resolve("@fugood/llama.node"));
// A fresh context for every run: a context reuses its KV cache across completions, and its
// completion_probabilities keep the earlier runs' steps. Flash attention off: its CPU kernel
// rounds through fp16 (about 1e-3 on probabilities); the reference is the plain fp32 math.
const complete = async (options) => {
  const ctx = await loadModel({ model: modelPath, n_ctx: 256, n_threads: 1, n_gpu_layers: 0, cache_type_k: "f32",
    cache_type_v: "f32", flash_attn_type: "off" });
  const result = await ctx.completion(options);
  const tokenized = await ctx.tokenize(options.prompt);
  await ctx.release();
  return { result, ids: Array.from(Object.values(tokenized.tokens)) };
};
const steps = 32;
// Every sampler stage off but the temperature (llama.node's defaults include XTC, which drops
// the most likely tokens); EOS may not end a run early.
const plain = { top_k: 0, top_p: 1, min_p: 0, typical_p: 1, penalty_last_n: 0, penalty_repeat: 1, penalty_freq: 0,
  penalty_present: 0, dry_multiplier: 0, xtc_probability: 0, mirostat: 0, ignore_eos: true };
const cases = [];
for (const prompt of prompts) {
  const { result: greedy, ids } = await complete({ ...plain, prompt, n_predict: steps, temperature: 0, n_probs: 1, seed: 1 });
  const { result: sampled } = await complete({ ...plain, prompt, n_predict: steps, temperature: 1, n_probs: 5, seed: 7 });
  cases.push({
    prompt, ids,
    greedy: greedy.completion_probabilities.map((p) => p.content),
    sampled: sampled.completion_probabilities.map((p) => ({ piece: p.content, top: p.probs.map((q) => [q.tok_str, q.prob]) })),
  });
}
fs.writeFileSync(out, JSON.stringify({ cases }));
console.log(`${cases.length} prompts, ${steps} steps each`);
