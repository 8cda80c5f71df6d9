"""The HTTP API (issue 14): a third front end beside `cli/` and `tui/`, over the same
services. `create_app` builds the FastAPI application; `energy-tui api` serves it with
uvicorn. Imported only by `energy-tui api` (FastAPI is the optional extra `api`)."""
