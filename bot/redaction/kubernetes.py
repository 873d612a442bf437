"""Kubernetes Secrets: the values under `data` / `stringData` / `binaryData`, in YAML or JSON."""

from __future__ import annotations

import re

_K8S_SECRET_KIND = re.compile(r"(?i)[\"']?kind[\"']?[ \t]{0,4}:[ \t]{0,4}[\"']?Secret\b")
_YAML_DATA = re.compile(r"(?m)^([ \t]{0,32})(?:-[ \t]{1,4})?(?:data|stringData|binaryData):[ \t]{0,8}$")
_YAML_ENTRY = re.compile(r"([ \t]{1,64})([\w.-]{1,253}):[ \t]{0,8}(.{0,4096})")
_JSON_DATA = re.compile(r"[\"'](?:data|stringData|binaryData)[\"'][ \t]{0,8}:[ \t]{0,8}\{([^{}]{0,65536})\}")
_JSON_ENTRY = re.compile(r"(\\?[\"'][\w.-]{1,253}\\?[\"'][ \t]{0,8}:[ \t]{0,8}\\?[\"'])([^\"'\\]{1,8192})")
_BASE64_VALUE = re.compile(r"[A-Za-z0-9+/]{8,8192}={0,2}")


def mask_secret_data(text: str) -> tuple[str, int]:
    """Mask the values of a Kubernetes Secret's `data` / `stringData` (YAML or JSON).

    With `kind: Secret` in the text every value goes; without it only base64 values (a Secret's data pasted
    on its own), so a ConfigMap's plain settings stay readable.
    """
    if "ata" not in text:
        return text, 0
    yaml_block = _YAML_DATA.search(text) is not None
    if not yaml_block and not ('"data"' in text or "'data'" in text or "Data\"" in text or "Data'" in text):
        return text, 0
    is_secret = _K8S_SECRET_KIND.search(text) is not None
    count = 0

    def hidden(value: str) -> bool:
        value = value.strip().strip("\"'")
        if not value or value in ("|", ">", "|-", ">-", "{}") or value.startswith("[REDACTED"):
            return False
        return is_secret or (_BASE64_VALUE.fullmatch(value) is not None and len(value) % 4 == 0)

    lines = text.split("\n") if yaml_block else []
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        out.append(line)
        index += 1
        header = _YAML_DATA.fullmatch(line)
        if header is None:
            continue
        depth = len(header.group(1).expandtabs())
        block_depth: int | None = None
        while index < len(lines):
            entry_line = lines[index]
            indent = len(entry_line) - len(entry_line.lstrip(" \t"))
            if entry_line.strip() and indent <= depth:
                break
            if block_depth is not None and (indent > block_depth or not entry_line.strip()):
                if entry_line.strip():
                    out.append(entry_line[:indent] + "[REDACTED:secret_data]")
                    count += 1
                else:
                    out.append(entry_line)
                index += 1
                continue
            entry = _YAML_ENTRY.fullmatch(entry_line)
            block_depth = None
            if entry is not None and entry.group(3).strip() in ("|", ">", "|-", ">-", "|+", ">+") and is_secret:
                block_depth = len(entry.group(1))
                out.append(entry_line)
            elif entry is not None and hidden(entry.group(3)):
                out.append(f"{entry.group(1)}{entry.group(2)}: [REDACTED:secret_data]")
                count += 1
            else:
                out.append(entry_line)
            index += 1
    if yaml_block:
        text = "\n".join(out)

    def json_block(match: re.Match[str]) -> str:
        nonlocal count

        def value(entry: re.Match[str]) -> str:
            nonlocal count
            if not hidden(entry.group(2)):
                return entry.group(0)
            count += 1
            return entry.group(1) + "[REDACTED:secret_data]"

        inner = _JSON_ENTRY.sub(value, match.group(1))
        return match.group(0)[: match.start(1) - match.start()] + inner + "}"

    text = _JSON_DATA.sub(json_block, text)
    return text, count

