"""Select: its asset folder is named `select`; the standard library's `select` must stay importable."""

import select  # noqa: F401  -- proves the folder named `select` does not shadow the standard library
import selectors  # noqa: F401  -- imports `select` internally


def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("selection failed")
    picks = [{"id": f"p{i}", "text": f"post {i}"} for i in range(int(event.get("count", 2)))]
    return {"round": event["round"], "picks": picks, "stdlib_select": hasattr(select, "select")}
