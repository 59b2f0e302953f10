"""The web application officials use: server-rendered pages in Bahasa Indonesia (Jinja2, htmx),
a client of the three services' public APIs with the signed-in user's own token. It holds no
database connection: every tenancy and role rule stays enforced by the services."""
