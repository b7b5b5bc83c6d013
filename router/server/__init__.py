"""The server: the aiohttp application (``app``), running it (``run``), several web processes
on one port (``processes``), and the first run with nothing configured (``firstrun``)."""
