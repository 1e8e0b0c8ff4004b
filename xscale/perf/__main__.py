"""`python -m xscale.perf`: the benchmark suite (see `xscale.perf.bench`)."""

import sys

from xscale.perf.bench import main

sys.exit(main())
