"""Runtime files (#31 part 1): a ``serve`` on any port is found by the CLI on the same machine
with nothing exported, ``status`` lists the routers running, break-glass maintenance reads the
store's address from them; a stopped router's file goes, a killed one's is ignored."""

from __future__ import annotations

import signal
from pathlib import Path

from tests import routerproc


def _here(data_home: Path) -> dict[str, str]:
    return {"XDG_DATA_HOME": str(data_home)}


async def test_the_cli_finds_the_router_running_here(tmp_path):
    serve = await routerproc.start("serve", env={**_here(tmp_path), "PORT": "0"})
    try:
        url = await serve.url()
        code, out, _ = await routerproc.run("status", env=_here(tmp_path))
        assert code == 0
        assert out.splitlines()[1].split()[:2] == [url, str(serve.pid)]
        assert "data: " in out
        # No ROUTER_URL, no PORT, no token exported: found by its runtime file.
        code, out, err = await routerproc.run("numbers", "list", env=_here(tmp_path))
        assert (code, out.splitlines()[1:]) == (0, ["none"]), err
        code, _, err = await routerproc.run("maintenance", "reindex", env=_here(tmp_path))
        assert code == 0, err
        assert f"the store of the router at {url} (pid {serve.pid}): redis://127.0.0.1:" in err
    finally:
        assert await serve.stop() == 0
    code, out, _ = await routerproc.run("status", env=_here(tmp_path))
    assert code == 1
    assert out.startswith("no router is running on this machine")
    assert list((tmp_path / "call-router" / "runtime").iterdir()) == []


async def test_a_killed_router_s_file_is_ignored(tmp_path):
    serve = await routerproc.start("serve", env={**_here(tmp_path), "PORT": "0"})
    await serve.url()
    await serve.stop(signal.SIGKILL)
    assert len(list((tmp_path / "call-router" / "runtime").iterdir())) == 1
    code, out, _ = await routerproc.run("status", env=_here(tmp_path))
    assert (code, out.startswith("no router is running")) == (1, True)
    assert list((tmp_path / "call-router" / "runtime").iterdir()) == []
