"""Fleet work: import accounts from a platform's CSV (tested before anything is saved) and export
them back in any layout. UI-free; the CLI (console/cli_fleet.py) and the console drive it.

    plan = plan_import(data, existing=loaded.accounts, on_duplicate=OnDuplicate.SKIP)
    await preflight(plan, loaded.settings)          # each row's would-be state and cause
    commit(plan, loaded, store_password)            # keyring, then one save of the file
"""

from __future__ import annotations

from .commit import CommitError, CommitResult, apply_rows, commit
from .mapping import FIELDS, ColumnMap, MappingError, detect, layouts, named, save
from .output import export_csv, failed_rows_csv, to_json, to_table
from .plan import Action, ImportPlan, OnDuplicate, PlanRow, fix_text, plan_import, preflight
from .reader import ReadError
from .rows import Problem

__all__ = [
    "FIELDS",
    "Action",
    "ColumnMap",
    "CommitError",
    "CommitResult",
    "ImportPlan",
    "MappingError",
    "OnDuplicate",
    "PlanRow",
    "Problem",
    "ReadError",
    "apply_rows",
    "commit",
    "detect",
    "export_csv",
    "failed_rows_csv",
    "fix_text",
    "layouts",
    "named",
    "plan_import",
    "preflight",
    "save",
    "to_json",
    "to_table",
]
