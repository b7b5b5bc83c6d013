"""Every Redis key the router uses is named in ``store/keys.py`` and described in
``docs/redis-keys.md``: the table is checked against the module both ways."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from router.store import keys

_PARTS = ("PREFIX", "REGISTRY", "LIVE", "TRUNK_INDEX_PREFIX")  # pieces of names, not keys


def _named_in_code() -> set[str]:
    """Each key as the doc spells it: a function's arguments as ``<parameter>``."""
    named = set()
    for name, value in vars(keys).items():
        if isinstance(value, str) and value.startswith("router:") and name not in _PARTS:
            named.add(value)
        elif inspect.isfunction(value) and value.__module__ == keys.__name__:
            parameters = inspect.signature(value).parameters
            named.add(value(*(f"<{p}>" for p in parameters)))
    return named


def test_the_key_table_is_the_code_s():
    page = (Path(__file__).parents[2] / "docs" / "redis-keys.md").read_text()
    documented = set(re.findall(r"^\| `(router:[^`]+)` \|", page, flags=re.M))
    assert documented == _named_in_code()


def test_no_module_names_a_key_outside_keys_py():
    package = Path(keys.__file__).parents[1]
    strays = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "keys.py" and re.search(r"""["']router:""", path.read_text())
    ]
    assert strays == []
