"""Scaling analysis of a sweep: best trial per cell, scaling-law fits with seed-bootstrap CIs, plots,
and the markdown report behind `xscale report`.

Runs are read through `xscale.tracking` only (the one module that imports mlflow).
"""
