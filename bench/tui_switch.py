"""Switching the TUI to a conversation with 5,000 messages, against switching to an empty one.

The view mounts only the last batch of messages, so the long history should cost little more than
reading its file; the baseline is a switch to an empty conversation in the same app.
"""

from __future__ import annotations

import asyncio
import time

import orjson

from common import percentile, temp_workspace

MESSAGES = 5_000
SWITCHES = 10


def write_history(root, name: str, count: int) -> None:
    from oboto.services.conversation_models import Message
    from oboto.services.runtime import Runtime

    runtime = Runtime.open(root)
    runtime.conversations.create(name)
    lines = [orjson.dumps(Message(role="user" if index % 2 else "assistant", content=f"message {index} " * 8)
                          .model_dump(mode="json", exclude_none=True)) for index in range(count)]
    runtime.paths.conversation_file(name).write_bytes(b"\n".join(lines) + b"\n")


async def switch_times() -> tuple[list[float], list[float]]:
    from oboto.services.runtime import Runtime
    from oboto.tui.app import make_app
    from oboto.tui.messages import SwitchConversation
    from oboto.tui.widgets.conversation import ConversationView

    root = temp_workspace()
    write_history(root, "long", MESSAGES)
    Runtime.open(root).conversations.create("empty")
    app = make_app(runtime=Runtime.open(root), start_runner=False, watch_files=False)
    results: dict[str, list[float]] = {"long": [], "empty": []}
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        view = app.screen.query_one(ConversationView)
        for _ in range(SWITCHES):
            for name in ("long", "empty"):
                started = time.perf_counter()
                app.screen.post_message(SwitchConversation(name))
                while view.conversation != name:
                    await asyncio.sleep(0.0005)
                await pilot.pause()
                results[name].append(time.perf_counter() - started)
        await app.quit_now()
    return results["long"], results["empty"]


def main() -> None:
    long, empty = asyncio.run(switch_times())
    value, baseline = percentile(long, 0.5) * 1000, percentile(empty, 0.5) * 1000
    print(f"switch to a {MESSAGES:,}-message conversation: p50 {value:.1f} ms "
          f"({value / baseline:.2f}x vs an empty conversation {baseline:.1f} ms)")


if __name__ == "__main__":
    main()
