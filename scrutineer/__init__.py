"""Entry points: the `scrutineer` command line (cli.py). The console app is `console/`."""
