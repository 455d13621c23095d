"""`turnout dashboard`: a live page of environments, deployments and their evidence, served
by this process from the state store (read only) and the targets; actions through the API.

Needs the `dashboard` extra (Starlette, uvicorn, Jinja2, python-multipart); see
docs/dashboard.md.
"""
