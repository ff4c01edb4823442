"""oauth: the hosted page, connect/callback per network, and the relay dashboard (Chalice app behind API Gateway).

The routes are the blueprints of `chalicelib/`; every request goes through `chalicelib.guard`."""

from chalice import Chalice

from chalicelib import bluesky, connecting, dashboard, guard, hosted, links, moderating

app = Chalice(app_name="relaycast-oauth")
for part in (hosted, connecting, dashboard, links, moderating, bluesky):
    app.register_blueprint(part.blueprint)
app.register_middleware(guard.guarding(app), "http")
