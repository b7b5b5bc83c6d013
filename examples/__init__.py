"""Examples that ship inside the package as ``router.examples`` (data read with
importlib.resources, never imported by the router): the example agent
(``python -m router agents example``) and a business verification profile."""
