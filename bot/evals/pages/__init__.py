"""Self-contained HTML pages for eval runs and drift: tables and inline SVG charts, no external assets."""
