"""Scaling analysis of a sweep: the best trial per cell, the learning gate, slopes with t intervals over
seeds, anchor checks, plots, and the markdown report behind `xscale report`.

    runs.py     the trials of a sweep folder, read from the tracking store
    table.py    selection, the learning gate, derived scores, per-seed points, axes
    fits.py     per-seed slopes, t intervals, Holm, the power law
    anchors.py  directions the literature agrees on, checked on every sweep
    scaling.py  every effect, endpoint and check the report quotes
    plots.py    the figures
    report.py   report.md

Runs are read through `xscale.tracking` only (the one module that imports mlflow).
"""
