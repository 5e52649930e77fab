"""The application ring: the command line, the composition root that joins the engine with Flower's server and
client apps, run directories, summaries, comparisons and sweeps. Only this package of sim/ may import server/,
clients.app, plots/, typer, rich or Ray (tests/test_architecture.py)."""
