"""The TUI when a daemon is the runner: it says so, and work it requests is done by the daemon."""

from __future__ import annotations

import signal

from cli_helpers import oboto_process
from oboto.core.locks import ProcessLock
from oboto.services.runtime import Runtime
from oboto.testing import Reply, ScriptedLLM, wait_until
from oboto.tui.app import make_app
from oboto.tui.widgets.tasks_panel import TasksPanel
from tui_helpers import settle


async def test_tui_works_as_a_client_while_a_daemon_runs_agents(workspace, llm_env: ScriptedLLM) -> None:
    llm_env.respond_with(lambda request: Reply(text="done by the daemon"))
    daemon = oboto_process(workspace.root, "daemon")
    try:
        wait_until(lambda: ProcessLock(workspace.runner_lock).holder_pid() == daemon.pid, timeout=20)
        app = make_app(runtime=Runtime.open(workspace.root))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot, lambda: f"process {daemon.pid}" in app.runner_state)
            assert f"client (process {daemon.pid} runs agents)" in app.sub_title
            assert not app.runner.is_runner
            record = app.runtime.tasks.spawn("from the tui", "do it")
            await settle(pilot, lambda: app.runtime.tasks.get(record.id).status == "completed", timeout=90)
            assert app.runtime.tasks.get(record.id).runner_pid == daemon.pid
            panel = app.screen.query_one(TasksPanel)
            await settle(pilot, lambda: "from the tui" in str(panel.get_option_at_index(0).prompt))
            await app.quit_now()
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
