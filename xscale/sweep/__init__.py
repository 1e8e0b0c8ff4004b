"""The sweep: Ray Tune schedules one trial per grid point. The only package that imports ray.

    search.py    which trials: grid cells, the searched axes inside each cell, a key per trial
    trial.py     the Tune trainable: one trial runs the pipeline and reports after each stage
    callback.py  the driver's MLflow logging and progress display
    driver.py    `xscale sweep`: where things go, Ray start-up, resume from the tracking store, the summary
"""

from xscale.sweep.driver import run_sweep

__all__ = ["run_sweep"]
