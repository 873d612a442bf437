"""Test helper: render a page in headless Chromium and read back what it laid out.

A probe script is appended to a copy of the page (the page itself carries no script): after layout it writes
every chart's size and visible marks and every `data-key` figure with its shown text into the DOM, which
`--dump-dom` returns. Without Chromium the tests are skipped, with the reason; where TRIAGE_REQUIRE_BROWSER=1
(CI) a missing browser fails them instead.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

PROBE = """
<script>
(() => {
  const visible = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const charts = [...document.querySelectorAll('svg')].map((svg) => {
    const r = svg.getBoundingClientRect();
    const marks = [...svg.querySelectorAll('rect, circle, polyline')];
    return {chart: svg.getAttribute('data-chart') || '', width: r.width, height: r.height,
            marks: marks.length, visible_marks: marks.filter(visible).length,
            text: [...svg.querySelectorAll('text')].map((t) => t.textContent)};
  });
  const figures = [...document.querySelectorAll('[data-key]')].map((el) => ({
    key: el.getAttribute('data-key'), value: el.getAttribute('data-value'), text: el.textContent.trim(),
    visible: visible(el)}));
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({title: document.title, charts, figures,
                                    banner: (document.querySelector('.banner') || {}).textContent || null,
                                    text: document.body.innerText});
  document.body.appendChild(out);
})();
</script>
"""
_PROBE_OUT = re.compile(r'<pre id="probe">(.*?)</pre>', re.S)


def chromium() -> str:
    """The browser's path, or skip (fail in CI) with the reason."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "Chromium is not installed (apt-get install -y chromium): the page is not checked in a browser"
    if os.environ.get("TRIAGE_REQUIRE_BROWSER") == "1":
        pytest.fail(reason + " and TRIAGE_REQUIRE_BROWSER=1 requires it")
    pytest.skip(reason)


def render(page: Path) -> dict[str, Any]:
    """Load `page` from disk in headless Chromium; what the probe saw after layout."""
    browser = chromium()
    with tempfile.TemporaryDirectory(prefix="triage-browser-") as scratch:
        probed = Path(scratch) / "page.html"
        source = page.read_text(encoding="utf-8")
        probed.write_text(source.replace("</body>", PROBE + "</body>"), encoding="utf-8")
        done = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={scratch}/profile", "--window-size=1300,2000", "--dump-dom", probed.as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )
    found = _PROBE_OUT.search(done.stdout)
    assert found, f"Chromium rendered no probe (exit {done.returncode}): {done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return result


def figures(rendered: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The rendered figures by key."""
    return {item["key"]: item for item in rendered["figures"]}
