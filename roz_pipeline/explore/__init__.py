"""`roz explore`: the read-only web explorer (app.py), its page templates and its plain script."""
