"""Tasks: the closed task registry, readers of the original file formats, XTREME's metrics and
extractive-QA feature processing.

Only the registry is imported here; `readers`, `metrics` and `qa` pull in `datasets`/`numpy`
and are imported by the code that needs them.
"""

from xscale.tasks.registry import TASKS, TaskInfo, get_task

__all__ = ["TASKS", "TaskInfo", "get_task"]
