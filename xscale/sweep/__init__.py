"""The sweep: Ray Tune schedules one trial per grid point. The only package that imports ray.

    search.py    which trials: grid cells, and one Optuna study per cell for the searched axes
    trial.py     the Tune trainable: one trial runs the pipeline and reports after each stage
    callback.py  the driver's MLflow logging and progress lines
    driver.py    `xscale sweep`: Ray start-up, resume, the final summary
"""

from xscale.sweep.driver import run_sweep

# Sweep folders written before the sweep became a package pickled these by their old module path
# (Tune's tuner.pkl holds the search algorithm and the callbacks); `--resume` resolves them here.
from xscale.sweep.callback import _current_callback  # noqa: E402,F401
from xscale.sweep.search import CellSearch  # noqa: E402,F401
from xscale.sweep.trial import trial_main  # noqa: E402,F401

__all__ = ["run_sweep"]
