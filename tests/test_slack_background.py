"""Background work after an ack: tracked, drained, and yielding to requests in flight."""

from __future__ import annotations

import asyncio

from bot.slack.background import Background


async def test_work_waits_while_a_request_is_in_flight() -> None:
    background = Background(yield_limit=5.0)
    order: list[str] = []

    async def work() -> None:
        await background.yield_to_requests()
        order.append("work")

    with background.request():
        background.spawn(work(), "w")
        for _ in range(5):
            await asyncio.sleep(0)
        order.append("ack")
    assert await background.drain(1.0)
    assert order == ["ack", "work"]


async def test_the_wait_is_bounded() -> None:
    background = Background(yield_limit=0.05)
    with background.request():
        task = background.spawn(background.yield_to_requests(), "w")
        await asyncio.wait_for(task, 1.0)
    assert background.pending == 0


async def test_no_request_no_wait_and_drain_reports_leftovers() -> None:
    background = Background(yield_limit=5.0)
    await asyncio.wait_for(background.yield_to_requests(), 0.1)
    never = asyncio.Event()

    async def stuck() -> None:
        await never.wait()

    background.spawn(stuck(), "stuck")
    assert not await background.drain(0.01)
    assert background.pending == 1
    never.set()
    assert await background.drain(1.0)


async def test_released_work_goes_through_one_at_a_time() -> None:
    background = Background(yield_limit=5.0)
    started: list[int] = []

    async def work(n: int) -> None:
        await background.yield_to_requests()
        started.append(n)

    with background.request():
        for n in range(5):
            background.spawn(work(n), f"w{n}")
        await asyncio.sleep(0.01)
    await asyncio.sleep(0)
    assert len(started) <= 1  # one per loop turn, not the whole crowd at once
    assert await background.drain(1.0)
    assert sorted(started) == [0, 1, 2, 3, 4]
