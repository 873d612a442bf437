"""Alert intake for the worst hour: record, coalesce into incidents, pace the cards, Alertmanager webhooks."""
