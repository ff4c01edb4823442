"""The hosted app's modules, deployed with `app.py` (Chalice's folder for them): the HTTP glue (`web`), the
middleware (`guard`) and one blueprint per part of the page."""
