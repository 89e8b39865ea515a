"""Reporting: the results store, tables, figures and their data, the regression check."""
