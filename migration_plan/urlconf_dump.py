"""Print the monolith's routes as JSON; run in a child process by
:func:`migration_plan.inventory.discover_routes`.

Run as ``DJANGO_SETTINGS_MODULE=legacy_monolith.smp.settings python -m
migration_plan.urlconf_dump``. It calls ``django.setup()`` and walks the root
URLconf's resolver tree (``include()`` and DRF routers alike: a router is a
list of ``URLPattern`` whose callback carries ``cls`` and ``actions``).
Nothing here names the monolith: Django finds it through the settings module,
so the toolkit keeps its rule that nothing imports ``legacy_monolith``. No
database connection is made (importing URLconfs and views needs none).

Output: ``[{"path": "/api/items/{item_id}/rate/", "methods": ["GET", "HEAD"],
"view": "module.Class", "namespace": "market", "name": "item-rate"}]``.
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from typing import Any

#: Django path converters and named regex groups -> the proxy's ``{name}``.
_CONVERTER = re.compile(r"<(?:[^:>]+:)?([^>]+)>")
_REGEX_GROUP = re.compile(r"\(\?P<([^>]+)>[^)]*\)")
_HTTP = ("get", "post", "put", "patch", "delete", "head", "options")


def _template(prefix: str, pattern: Any) -> str:
    """A route pattern (``path()`` or ``re_path()``) as a proxy template piece."""
    text = str(pattern)
    if getattr(pattern, "regex", None) is not None and type(pattern).__name__ == "RegexPattern":
        text = _REGEX_GROUP.sub(lambda m: "{" + m.group(1) + "}", text).lstrip("^").rstrip("$").replace("\\", "")
    else:
        text = _CONVERTER.sub(lambda m: "{" + m.group(1) + "}", text)
    return prefix + text


def _methods(callback: Any) -> list[str]:
    """The HTTP methods a view answers. DRF viewsets (routers) name them in
    ``actions``; class-based views by the handlers they define among
    ``http_method_names`` (Django answers HEAD with ``get`` when no ``head``
    is defined, and OPTIONS everywhere, so OPTIONS is left out)."""
    actions = getattr(callback, "actions", None)
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    found: set[str] = set()
    if isinstance(actions, dict) and actions:
        found = {m.lower() for m in actions}
    elif cls is not None:
        allowed = getattr(cls, "http_method_names", _HTTP)
        found = {m for m in allowed if m in _HTTP and hasattr(cls, m)}
    else:
        return ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]  # a function view may answer anything
    if "get" in found:
        found.add("head")
    found.discard("options")
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return sorted((m.upper() for m in found), key=order.index)


def _walk(patterns: Any, prefix: str, namespace: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for entry in patterns:
        if hasattr(entry, "url_patterns"):  # URLResolver (include)
            ns = entry.namespace or namespace
            out.extend(_walk(entry.url_patterns, _template(prefix, entry.pattern), ns))
            continue
        callback = entry.callback
        cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        view = f"{cls.__module__}.{cls.__qualname__}" if cls else f"{callback.__module__}.{callback.__qualname__}"
        out.append(
            {
                "path": "/" + _template(prefix, entry.pattern),
                "methods": _methods(callback),
                "view": view,
                "namespace": namespace,
                "name": entry.name,
            }
        )
    return out


def main() -> None:
    django = importlib.import_module("django")
    django.setup()
    urls = importlib.import_module("django.urls")
    resolver = urls.get_resolver()
    json.dump(_walk(resolver.url_patterns, "", None), sys.stdout)


if __name__ == "__main__":
    main()
