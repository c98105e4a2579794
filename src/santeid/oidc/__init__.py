"""OpenID Connect provider with Pro Santé Connect's Keycloak URL layout
(docs/reference/pro-sante-connect.md §1): its routes are in :mod:`santeid.oidc.routes`.

Nothing is imported here, so that a command needing one module (``santeid clients`` reads
:mod:`santeid.oidc.clients`) does not load the web layer with it."""
