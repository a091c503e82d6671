"""`python -m cep`: the `cep` command, for environments without the script on PATH."""

import sys

from cep.cli import console

sys.exit(console())
