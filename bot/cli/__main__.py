"""`python -m bot.cli`: the triage-bot command."""

from bot.cli import main

raise SystemExit(main())
