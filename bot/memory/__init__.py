"""Incident memory: human verdicts become precedents, earlier incidents are recalled, judged cards become cases."""
