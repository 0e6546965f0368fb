#!/usr/bin/env python3
"""Validates each line {"schema": ..., "instance": "<text>"} of a JSONL file with the
independent python3-jsonschema (Draft 2020-12): the text must parse and validate.
Exit 0 when all do, 1 (with the failures listed) otherwise."""
import json
import sys

import jsonschema

failures = 0
count = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for line in f:
        case = json.loads(line)
        count += 1
        try:
            instance = json.loads(case["instance"])
            jsonschema.Draft202012Validator(case["schema"]).validate(instance)
        except Exception as e:  # noqa: BLE001 - any failure is reported
            failures += 1
            print(f"FAIL {case['instance']!r} against {json.dumps(case['schema'])}: {e}")
print(f"{count} instances, {failures} failures")
sys.exit(1 if failures or count == 0 else 0)
