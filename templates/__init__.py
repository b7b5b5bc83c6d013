"""Data, not code: carrier answers (TwiML, TeXML), the console and API pages, example dispatch
templates. The build ships this directory inside the package as ``router.templates``; this
file makes it a regular package, so ``importlib.resources`` finds it in an editable install."""
