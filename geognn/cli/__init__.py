"""The ``geognn`` command line (``geognn.cli.main:main``)."""
