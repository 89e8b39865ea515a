"""Reporting: tables, figures, claims, the HTML report, the regression check (reads the store)."""
