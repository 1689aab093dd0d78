"""Field-level comparison of two answers (legacy vs new), Diffy style.

``json_diff`` walks two decoded JSON documents and returns one ``Difference``
per differing leaf, addressed by a JSON path (``$.items[0].price``). Ignore
rules are JSON paths with ``[*]`` / ``*`` wildcards. Noise learning: a field
that differs between two legacy answers to the same request is noise; its
wildcard-normalised path (array indices become ``[*]``) is remembered per
route and excluded from later comparisons.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_MISSING = object()


@dataclass(frozen=True)
class Difference:
    path: str
    legacy: Any
    new: Any

    def to_json(self) -> dict[str, Any]:
        def enc(v: Any) -> Any:
            return "<missing>" if v is _MISSING else v

        return {"path": self.path, "legacy": enc(self.legacy), "new": enc(self.new)}


def json_diff(a: Any, b: Any, path: str = "$") -> list[Difference]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[Difference] = []
        for key in sorted(set(a) | set(b), key=str):
            out.extend(json_diff(a.get(key, _MISSING), b.get(key, _MISSING), f"{path}.{key}"))
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = []
        for i in range(max(len(a), len(b))):
            av = a[i] if i < len(a) else _MISSING
            bv = b[i] if i < len(b) else _MISSING
            out.extend(json_diff(av, bv, f"{path}[{i}]"))
        return out
    if type(a) is type(b) and a == b:
        return []
    if (
        isinstance(a, (int, float))
        and isinstance(b, (int, float))
        and not isinstance(a, bool)
        and not isinstance(b, bool)
        and a == b
    ):
        return []
    return [Difference(path, a, b)]


_INDEX = re.compile(r"\[\d+\]")


def generalise(path: str) -> str:
    """``$.items[3].price`` -> ``$.items[*].price`` (how noise is remembered)."""
    return _INDEX.sub("[*]", path)


def _pattern(rule: str) -> re.Pattern[str]:
    escaped = re.escape(rule).replace(r"\[\*\]", r"\[\d+\]").replace(r"\*", r"[^.\[]+")
    return re.compile(escaped + r"(?:$|[.\[])")


class IgnoreRules:
    """Compiled ignore paths; a rule also covers everything below it."""

    def __init__(self, rules: tuple[str, ...] | list[str]) -> None:
        self._patterns = [_pattern(r) for r in rules]

    def ignored(self, path: str) -> bool:
        return any(p.match(path) for p in self._patterns)


def decode_json(body: bytes, content_type: str | None) -> tuple[bool, Any]:
    """(True, value) if the body is JSON, else (False, raw bytes)."""
    if content_type and "json" not in content_type.lower():
        return False, body
    try:
        return True, json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        return False, body


@dataclass
class Comparison:
    differences: list[Difference]
    noise: list[Difference]

    @property
    def matched(self) -> bool:
        return not self.differences


def compare(
    legacy: tuple[int, dict[str, str], bytes],
    new: tuple[int, dict[str, str], bytes],
    *,
    headers: tuple[str, ...],
    ignore: IgnoreRules,
    noise: set[str],
) -> Comparison:
    """Compare status, selected headers and the bodies of two answers.

    Headers are addressed as ``status`` and ``headers.<name>``; bodies as
    JSON paths when both are JSON, else ``$`` compared byte for byte."""
    ls, lh, lb = legacy
    ns, nh, nb = new
    diffs: list[Difference] = []
    if ls != ns:
        diffs.append(Difference("status", ls, ns))
    for name in headers:
        lv, nv = lh.get(name), nh.get(name)
        if name == "content-type":
            lv = lv.split(";")[0].strip().lower() if lv else lv
            nv = nv.split(";")[0].strip().lower() if nv else nv
        if lv != nv:
            diffs.append(Difference(f"headers.{name}", lv, nv))
    lj, lval = decode_json(lb, lh.get("content-type"))
    nj, nval = decode_json(nb, nh.get("content-type"))
    if lj and nj:
        diffs.extend(json_diff(lval, nval))
    elif lb != nb:
        diffs.append(Difference("$", lb[:200].decode("utf-8", "replace"), nb[:200].decode("utf-8", "replace")))
    real: list[Difference] = []
    noisy: list[Difference] = []
    for d in diffs:
        if ignore.ignored(d.path) or generalise(d.path) in noise:
            noisy.append(d)
        else:
            real.append(d)
    return Comparison(real, noisy)


def learn_noise(first: tuple[int, dict[str, str], bytes], second: tuple[int, dict[str, str], bytes]) -> set[str]:
    """Paths that differ between two legacy answers to the same request."""
    result = compare(first, second, headers=(), ignore=IgnoreRules(()), noise=set())
    return {generalise(d.path) for d in result.differences if d.path != "status"}
