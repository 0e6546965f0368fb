"""The Python module against the CLI and the golden ids.

Run with PYTHONPATH at the built module (ctest api_python does):
  PYTHONPATH=build/python LLAMA2_CLI=build/llama2 python3 -m unittest -v test_engine
"""
import json
import os
import subprocess
import unittest

import llama2

DATA = os.environ.get("LLAMA2_TEST_DATA") or os.environ.get(
    "LLAMA2_DEFAULT_TEST_DATA", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
MODEL = os.path.join(DATA, "models", "stories260K.bin")
TOKENIZER = os.path.join(DATA, "models", "tok512.bin")
CLI = os.environ.get("LLAMA2_CLI", "llama2")
PROMPT = "Once upon a time"


def cli_story(steps):
    """What `llama2 -t 0` prints for PROMPT, as text."""
    out = subprocess.run([CLI, MODEL, "-z", TOKENIZER, "-t", "0", "-n", str(steps), "-i", PROMPT],
                         check=True, capture_output=True)
    return out.stdout.decode("utf-8", "replace")


class EngineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.engine = llama2.Engine(MODEL, TOKENIZER, threads=1)

    def test_greedy_text_equals_the_cli(self):
        text = self.engine.generate(PROMPT, steps=64, temperature=0.0)
        self.assertEqual(text + "\n", cli_story(64))
        self.assertTrue(text.startswith(PROMPT))

    def test_callback_streams_every_piece_and_can_stop(self):
        pieces = []
        text = self.engine.generate(PROMPT, steps=64, temperature=0.0, callback=pieces.append)
        self.assertEqual("".join(pieces), text)  # append returns None: goes on
        stopped = []
        partial = self.engine.generate(PROMPT, steps=64, temperature=0.0,
                                       callback=lambda piece: stopped.append(piece) or len(stopped) < 5)
        self.assertEqual(len(stopped), 5)
        self.assertEqual(partial, "".join(stopped))
        self.assertTrue(text.startswith(partial) and len(partial) < len(text))

    def test_callback_exception_propagates(self):
        def boom(piece):
            raise ValueError("from the callback")
        with self.assertRaises(ValueError):
            self.engine.generate(PROMPT, steps=16, temperature=0.0, callback=boom)
        self.assertTrue(self.engine.generate(PROMPT, steps=16, temperature=0.0))  # still usable

    def test_seeded_sampling_reproduces_golden_ids(self):
        # The golden cases that start from BOS alone are an empty prompt.
        with open(os.path.join(DATA, "golden", "stories260K.json")) as f:
            cases = [c for c in json.load(f)["cases"] if c["prompt_tokens"] == [1]]
        self.assertGreaterEqual(len(cases), 4)
        for case in cases:
            with self.subTest(case["description"]):
                options = dict(steps=case["steps"], temperature=case["temperature"], topp=case["topp"],
                               seed=case["seed"])
                self.assertEqual(self.engine.generate_tokens("", **options), case["tokens"])
                # The text is those ids' printable pieces: equal where no lone byte was dropped.
                text = self.engine.generate("", **options)
                self.assertTrue(len(text) > 0)
        greedy = self.engine.generate_tokens(PROMPT, steps=64, temperature=0.0)
        self.assertEqual(self.engine.detokenize(greedy) + "\n", cli_story(64))

    def test_tokenize_roundtrip(self):
        ids = self.engine.tokenize(PROMPT)
        self.assertIsInstance(ids, list)
        self.assertEqual(ids[0], 1)  # BOS
        self.assertEqual(self.engine.detokenize(ids), PROMPT)
        self.assertEqual(self.engine.tokenize(PROMPT, bos=False), ids[1:])
        self.assertEqual(self.engine.vocab_size, 512)

    def test_missing_files_raise(self):
        with self.assertRaisesRegex(RuntimeError, "nonexistent"):
            llama2.Engine("/nonexistent/model.bin", TOKENIZER)
        with self.assertRaisesRegex(RuntimeError, "nonexistent"):
            llama2.Engine(MODEL, "/nonexistent/tok.bin")
        with self.assertRaisesRegex(RuntimeError, "tokenizer"):
            llama2.Engine(MODEL)  # a .bin model has no vocabulary of its own

    def test_bad_arguments_raise(self):
        with self.assertRaises(RuntimeError):
            self.engine.generate(PROMPT, steps=16, temperature=-1.0)
        with self.assertRaises(RuntimeError):
            self.engine.detokenize([1, 512])
        with self.assertRaises(TypeError):
            self.engine.tokenize(42)


if __name__ == "__main__":
    unittest.main()
