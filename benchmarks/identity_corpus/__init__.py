"""A labelled corpus for incident identity: log lines of common daemons, alert storms and the eval sets.

Every message carries the id of the template that produced it; grouping accuracy compares the groups a
fingerprint makes with these. Generated from a seed, so every run sees the same corpus.
"""

from benchmarks.identity_corpus.alerts import alert_messages
from benchmarks.identity_corpus.logs import log_messages

__all__ = ["alert_messages", "corpus", "log_messages"]


def corpus(seed: int = 1, per_template: int = 40) -> list[tuple[str, str, str]]:
    """(kind, template id, message) for every message, logs and alerts interleaved as they would arrive."""
    import random

    rows = log_messages(seed, per_template) + alert_messages(seed, per_template)
    random.Random(seed).shuffle(rows)
    return rows
