"""Certificate alerts: expiry, TLS handshake failures, cert-manager's issuing."""

from __future__ import annotations

import re

from bot.reading.draft import Draft
from bot.reading.text.fields import LOG_OR_TRACE, read_fields
from bot.reading.text.servers import SERVERS

_CERT_NAME = re.compile(r"(?i)certificate\s+(?:for\s+)?['\"`]?([a-z0-9*][\w.*-]{1,200}\.[a-z]{2,12}|[a-z0-9][\w-]"
                        r"{0,100}/[a-z0-9][\w.-]{0,200})")
_CN = re.compile(r"(?i)\b(?:CN|subject|domain|host)\s*[=:]\s*['\"]?([a-z0-9*][\w.*-]{1,200}\.[a-z]{2,12})")


def certificate(head: str, first: str, draft: Draft) -> bool:
    lowered = head[:4000].lower()
    if "certificate" not in lowered and "x509" not in lowered and "tls" not in lowered and "ssl" not in lowered:
        return False
    if not any(word in lowered for word in ("expir", "not after", "notafter", "x509", "handshake", "renew",
                                            "untrusted", "unknown authority", "self-signed", "self signed", "issuing",
                                            "issuer", "acme", "not ready")):
        return False
    if any(pattern.search(head) for name, pattern in SERVERS if name in ("envoy", "nginx", "haproxy")):
        return False
    if LOG_OR_TRACE.search(head[:4000]):
        # an application's TLS failure in its own log or trace is the application's, read as its log
        return False
    manager = "cert-manager" in lowered or "issuer" in lowered or "certificaterequest" in lowered or (
        "acme" in lowered and "order" in lowered) or re.search(r"certificate [a-z0-9-]{1,63}/[a-z0-9]", lowered)
    draft.source = ("openssl" if "s_client" in lowered or lowered.startswith("$ openssl") else
                    "cert-manager" if manager else "certificate")
    read_fields(head, draft)
    name = _CN.search(head) or _CERT_NAME.search(head)
    draft.set(resource=draft.labels.get("domain") or draft.labels.get("host") or draft.labels.get("certificate")
              or (name.group(1) if name else ""), alert_name=draft.labels.get("alert"))
    days = re.search(r"(?i)expir\w*\s+(?:in|within)\s+(\d{1,4})\s*(day|hour)", head)
    if days is not None:
        draft.metric("time to expiry", days.group(1), None, days.group(2) + "s")
    return True
