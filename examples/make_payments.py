"""Regenerate examples/payments.jsonl from the shared benchmark workload generator.

    python examples/make_payments.py PATH/TO/gen_payments.py

The bundled feed is 2,000 payment events (seed 7, the generator's defaults), so that
`cep run` on it finishes in seconds and shows real matches.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

EVENTS = 2_000


def main() -> None:
    generator = sys.argv[1] if len(sys.argv) > 1 else "../shared/bench/gen_payments.py"
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as folder:
        prefix = os.path.join(folder, "payments")
        subprocess.run([sys.executable, generator, str(EVENTS), prefix], check=True)
        with open(prefix + ".jsonl", encoding="utf-8") as source:
            text = source.read()
    with open(os.path.join(here, "payments.jsonl"), "w", encoding="utf-8") as target:
        target.write(text)


if __name__ == "__main__":
    main()
