"""The package list, which pyproject.toml alone cannot say: templates/ lives at the top of the
repository (data, not code — the design card's layout) and ships inside the package as
``router.templates``, for wheels and editable installs alike; examples/ likewise as
``router.examples`` (the example agent, printed by ``agents example``). Everything else is in
pyproject.toml."""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["router", "router.*"]), "router.templates", "router.examples",
    ],
    package_dir={"router.templates": "templates", "router.examples": "examples"},
)
