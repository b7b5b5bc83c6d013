"""The command line (``python -m router``, ``call-router``): one module per command, each
declaring its arguments and handler; ``cli.main`` assembles them. The operator commands talk
to the running router over its HTTP API (``cli.client``), ``maintenance`` alone to Redis."""
